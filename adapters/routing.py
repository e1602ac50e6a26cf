"""Which carrier a tracking number belongs to: the one the marketplace named, else the one whose number format it
has (each carrier's ``ttn_format`` in mappings/<carrier>.yaml), preferring the marketplace's country where formats
overlap."""

from __future__ import annotations

from adapters import CARRIERS, MARKETPLACE_COUNTRY
from mappings import load, normal_ttn


def route(named: str, ttn: str, marketplace: str = "") -> tuple[str | None, str]:
    """(carrier, why) for ``ttn``; carrier None when no single carrier fits, with the reason."""
    if named in CARRIERS:
        return named, "named by the marketplace"
    fits = [name for name in CARRIERS if load(name).valid_ttn(ttn)]
    home = [name for name in fits if CARRIERS[name].country == MARKETPLACE_COUNTRY.get(marketplace)]
    fits = home or fits
    if len(fits) == 1:
        return fits[0], f"its number has {CARRIERS[fits[0]].title}'s format"
    if not fits:
        said = f" (the marketplace says {named!r})" if named and named != "unknown" else ""
        return None, f"no carrier we track uses numbers like {normal_ttn(ttn)}{said}"
    return None, f"{normal_ttn(ttn)} fits {' and '.join(CARRIERS[f].title for f in fits)}: name the carrier"


def check_ttn(carrier: str, ttn: str) -> str:
    """Why ``ttn`` is not a number of ``carrier`` ("" when it is, or when we do not know the carrier's format)."""
    if carrier not in CARRIERS or load(carrier).valid_ttn(ttn):
        return ""
    return (f"{normal_ttn(ttn)} is not a {CARRIERS[carrier].title} tracking number "
            f"(expected {load(carrier).ttn_format})")
