"""Seller commands in: checked against the order, its marketplace and its carrier, then queued in the outbox.

Every face that takes a command (the CLI's ``order …``, the HTTP API, the web page) goes through ``submit``, so a
command is refused the same way everywhere, before anything is queued. ERPs that insert rows directly are checked
again at push time (connector/sync/push.py).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from adapters import CARRIERS
from adapters.routing import check_ttn, route
from connector.domain import build_command
from connector.errors import CommandInvalid
from connector.store.commands import Enqueued, enqueue
from connector.store.queries import find_order
from connector.store.tables import OrderRow


def submit(session: Session, ref: str, kind: str, payload: dict[str, Any], *, requested_by: str,
           key: str | None = None) -> tuple[OrderRow, Enqueued]:
    """Validate ``kind`` with ``payload`` for the order ``ref`` and queue it once per idempotency key."""
    order = find_order(session, ref)
    payload = {k: v for k, v in payload.items() if v not in (None, "")}
    if kind == "ship":
        payload = _with_carrier(order, payload)
    command = build_command(kind, payload)
    return order, enqueue(session, order, command, requested_by=requested_by, key=key)


def _with_carrier(order: OrderRow, payload: dict[str, Any]) -> dict[str, Any]:
    """A ship command names its carrier, and its number has that carrier's form: a wrong TTN is refused now, not
    found out by a buyer who cannot track the parcel."""
    ttn = "".join(str(payload.get("ttn") or "").split())
    carrier = str(payload.get("carrier") or "").strip().lower()
    if not ttn:
        return payload  # the command itself says what is missing
    if not carrier:
        carrier, why = route("", ttn, order.marketplace)
        if carrier is None:
            raise CommandInvalid(f"ship: {why}", missing=("carrier",),
                                 hint="name the carrier: --carrier " + "|".join(CARRIERS))
    problem = check_ttn(carrier, ttn)
    if problem:
        raise CommandInvalid(f"ship: {problem}", missing=("ttn",),
                             hint="check the number on the waybill, or name the right carrier with --carrier")
    return payload | {"ttn": ttn, "carrier": carrier}
