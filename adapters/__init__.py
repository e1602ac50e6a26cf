"""Adapters to the outside systems: one folder per marketplace or carrier, the same shape each time.

This module is the registry the core reads: which marketplaces and carriers exist, and which configuration keys
each marketplace's login needs (any one of the alternatives, every key in it).
"""

MARKETPLACE_LOGINS: dict[str, tuple[tuple[str, ...], ...]] = {
    "rozetka": (("token",), ("username", "password")),  # a static API token, or the /sites login
    "chopni": (("email", "password"),),  # the seller panel's login form
}

CARRIERS: tuple[str, ...] = ("novaposhta",)
