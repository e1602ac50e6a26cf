"""The outbox's write side: a seller command becomes a row, once per idempotency key."""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import Command, Status, utcnow
from connector.store.tables import CommandRow, OrderRow


@dataclass(frozen=True, slots=True)
class Enqueued:
    row: CommandRow
    created: bool  # False: the same key was already queued, nothing new was written


def enqueue(session: Session, order: OrderRow, command: Command, *, requested_by: str = "cli",
            key: str | None = None) -> Enqueued:
    """Queue ``command`` for ``order`` unless a command with the same idempotency key exists.

    The command is checked against the order's canonical status first, so an impossible intent (cancel a shipped
    order) is refused before it reaches the outbox. The marketplace's own rules are checked again at push time.
    """
    command.check_allowed_from(Status(order.status))
    key = key or command.idempotency_key(f"{order.account}:{order.external_id}")
    existing = session.exec(select(CommandRow).where(CommandRow.idempotency_key == key)).first()
    if existing is not None:
        return Enqueued(existing, created=False)
    now = utcnow()
    row = CommandRow(idempotency_key=key, order_id=order.id, kind=command.kind.value,
                     payload=json.dumps(command.payload(), ensure_ascii=False, sort_keys=True),
                     requested_by=requested_by, created_at=now, updated_at=now, next_attempt_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except sa.exc.IntegrityError:
        # A concurrent writer queued the same key between our read and our insert.
        return Enqueued(session.exec(select(CommandRow).where(CommandRow.idempotency_key == key)).one(), False)
    return Enqueued(row, created=True)
