"""Adapters to the outside systems: one folder per marketplace or carrier, the same shape each time.

This module is the registry the core reads: which marketplaces exist and which configuration keys each one's login
needs (any one of the alternatives, every key in it), and which carriers exist. A carrier is found, not listed: any
folder here whose ``__init__.py`` declares ``CARRIER = CarrierSpec(...)`` is one, so a new carrier is one folder plus
its mapping file (mappings/<name>.yaml).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

MARKETPLACE_LOGINS: dict[str, tuple[tuple[str, ...], ...]] = {
    "rozetka": (("token",), ("username", "password")),  # a static API token, or the /sites login
    "chopni": (("email", "password"),),  # the seller panel's login form
    "promua": (("token",),),  # a personal API token from the cabinet (Settings → API tokens)
}

# Where a marketplace's buyers live: among carriers whose number format fits a tracking number, the ones of the
# marketplace's country are meant (a 14-digit number on Rozetka is Nova Poshta's, not Speedy's).
MARKETPLACE_COUNTRY: dict[str, str] = {"rozetka": "UA", "chopni": "BG", "promua": "UA"}

# What a marketplace wants pushed once the carrier says the buyer has the parcel (the tracking rules' default, which
# an account may override): Chopni's manual closes an order "upon receiving"; Rozetka follows its TTNs itself; Prom
# pushes nothing (the seller closes the sale with `complete` when it is done).
ON_DELIVERED: dict[str, str] = {"chopni": "complete"}

# How many accounts of a marketplace one daemon pulls at once, unless the configuration says otherwise. Chopni's
# seller panel is a web site, not an API (shared/reference/chopni-multimerch.md: "small concurrency"). Rozetka and
# Prom.ua document no limit; Prom's advice (one request at a time) is per token, i.e. per account.
PULLS_AT_ONCE: dict[str, int] = {"chopni": 2}


@dataclass(frozen=True, slots=True)
class CarrierSpec:
    """What the core needs to know of a carrier before building its adapter."""

    name: str  # its key under ``carriers:`` in the configuration, and its mapping file's name
    title: str  # how people call it
    logins: tuple[tuple[str, ...], ...]  # like MARKETPLACE_LOGINS: "api_key", "username", "password"
    build: str  # "module:function" → CarrierAdapter (adapters/base.py: CarrierBuilder)
    default_url: str  # the production API root, for config.example.yaml and the docs
    country: str  # ISO 3166 code of its home market


def _discover() -> dict[str, CarrierSpec]:
    found: dict[str, CarrierSpec] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.ispkg:
            spec = getattr(importlib.import_module(f"{__name__}.{module.name}"), "CARRIER", None)
            if isinstance(spec, CarrierSpec):
                found[spec.name] = spec
    return found


CARRIERS: dict[str, CarrierSpec] = _discover()
