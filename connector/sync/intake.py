"""Seller commands in: checked against the order, its marketplace and its carrier, then queued in the outbox.

Every face that takes a command (the CLI's ``order …``, the HTTP API, the web page) goes through ``submit``, so a
command is refused the same way everywhere, before anything is queued. ERPs that insert rows directly are checked
again at push time (connector/sync/push.py).

What ``submit`` decides, in this order:
- the same idempotency key again: the command already written is returned, whatever the order's status is now
  (a client retrying after a lost answer must get its command back, not a refusal);
- the fields, the TTN's carrier and form, contact data in a message to a buyer: refused (``CommandInvalid``);
- a ship whose TTN the order already has, on an order that reached ``ready_to_ship``: recorded as done, nothing to
  push;
- a second open (pending or in progress) status command of the same kind for the same order: refused
  (``DuplicateCommand``); comments and messages may follow one another;
- a status the lifecycle cannot reach from the order's current one: refused.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from adapters import CARRIERS
from adapters.routing import check_ttn, route
from connector.domain import Command, CommandKind, Status, build_command
from connector.domain.lifecycle import rank
from connector.domain.personal import contact_data
from connector.errors import CommandInvalid
from connector.store.commands import Enqueued, enqueue
from connector.store.queries import find_order
from connector.store.tables import OPEN_COMMANDS, CommandRow, OrderRow, ShipmentRow


class DuplicateCommand(CommandInvalid):
    """The order already has an open command of this kind: a second would be pushed after the first, for nothing
    (or against it). ``existing`` is that command's id."""

    def __init__(self, message: str, *, existing: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.existing = existing


def submit(session: Session, ref: str, kind: str, payload: dict[str, Any], *, requested_by: str,
           key: str | None = None) -> tuple[OrderRow, Enqueued]:
    """Validate ``kind`` with ``payload`` for the order ``ref`` and queue it once per idempotency key."""
    order = _locked(session, find_order(session, ref))
    payload = {k: v for k, v in payload.items() if v not in (None, "")}
    if kind == "ship":
        payload = _with_carrier(order, payload)
    command = build_command(kind, payload)
    key = key or command.idempotency_key(f"{order.account}:{order.external_id}")
    existing = session.exec(select(CommandRow).where(CommandRow.idempotency_key == key)).first()
    if existing is not None:
        return order, Enqueued(existing, created=False)
    if command.kind is CommandKind.MESSAGE_BUYER:
        _no_contact_data(command.text)
    done = _already_shipped(session, order, command)
    if not done:
        _no_open_duplicate(session, order, command)
    return order, enqueue(session, order, command, requested_by=requested_by, key=key, done=done)


def _locked(session: Session, order: OrderRow) -> OrderRow:
    """The order, read again under a row lock on PostgreSQL: two submissions for one order (CLI and API at once)
    are judged one after the other, so both cannot pass the duplicate check. SQLite's writers are serial already."""
    query = select(OrderRow).where(OrderRow.id == order.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).one()


def _no_contact_data(text: str) -> None:
    found = contact_data(text)
    if found:
        raise CommandInvalid("message_buyer: marketplaces forbid sharing contact data with buyers; the message "
                             "contains " + ", ".join(repr(f) for f in found),
                             hint="remove phone numbers, e-mail addresses and links, then send it again")


def _already_shipped(session: Session, order: OrderRow, command: Command) -> str:
    """Why a ship has nothing left to do ("" when it has): the order carries its TTN and got as far as a waybill."""
    if command.kind is not CommandKind.SHIP or order.progress < (rank(Status.READY_TO_SHIP) or 0):
        return ""
    known = session.exec(select(ShipmentRow.id).where(ShipmentRow.order_id == order.id,
                                                      ShipmentRow.ttn == command.ttn)).first()
    if known is None:
        return ""
    return f"already done: the order has TTN {command.ttn} and is {order.status}; nothing was sent"


def _no_open_duplicate(session: Session, order: OrderRow, command: Command) -> None:
    if command.target is None:
        return  # comments and messages: each one is its own
    c = CommandRow
    found = session.exec(select(c.id, c.state).where(c.order_id == order.id, c.kind == command.kind.value,
                                                     c.state.in_(OPEN_COMMANDS)).order_by(c.id)).first()
    if found is not None:
        open_id, state = found
        raise DuplicateCommand(
            f"order {order.id} already has an open {command.kind} command: {open_id} ({state.replace('_', ' ')})",
            existing=open_id,
            hint=f"wait for it (`connector outbox`), or cancel it first: `connector outbox cancel {open_id}`")


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
