"""Econt's errors, classified by what the connector can do about them (a table, not logic).

Econt answers a failed call with its Error object ``{type, message, fields[], innerErrors[]}`` (reference §1.5);
``type`` is the server's exception class name. Few types are known: the table holds what clients have seen. Per-number
errors inside ``shipmentStatuses[]`` are never looked up here: an unknown number is a parcel report (NOT_FOUND), not an
exception.
"""

from typing import Any

from adapters.base import names_only_login

# HTTP statuses that mean the login was refused whatever the body says (inferred: the reference does not state
# Econt's HTTP statuses; these are what a Basic-auth service answers).
AUTH_STATUSES = frozenset({401, 403})

# A top-level error of these types means the credentials were rejected (client: woo-bg reads ExInvalidParam so) ...
AUTH_TYPES = frozenset({"ExInvalidParam"})
# ... unless it names a field of the request that is not the login: then the request itself was refused (inferred).
LOGIN_FIELDS = frozenset({"", "username", "password", "user", "pass"})

# Types that mean "try again later". None is documented; the set stays so a type seen in production is one line.
TRANSIENT_TYPES: frozenset[str] = frozenset()

HINTS = {
    "auth": "check the Econt username and password (the e-Econt login, sent as HTTP Basic); until they are fixed "
            "Econt parcels are not tracked",
    "ExInvalidParam": "Econt refused a parameter of the request; the numbers sent are in the log",
}


def is_auth(error_type: str | None, fields: list[str]) -> bool:
    """The rule is shared with Speedy (adapters/base.py); the tables above are Econt's: a type and its fields."""
    return names_only_login(error_type, AUTH_TYPES, fields, LOGIN_FIELDS)


def flatten(error: Any) -> list[str]:
    """An Error's message and its innerErrors' messages, depth first (they nest: reference §1.5)."""
    if not isinstance(error, dict):
        return []
    found = [str(error["message"]).strip()] if str(error.get("message") or "").strip() else []
    for inner in error.get("innerErrors") or []:
        found += flatten(inner)
    return found
