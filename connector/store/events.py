"""The change feed: order events appended where the change is written, numbered in the order they commit.

The guarantee: a reader that remembers the last ``seq`` it saw and asks for ``seq > last`` gets every later event
exactly once, in commit order, whichever daemon (or CLI, or API) wrote it, on SQLite and PostgreSQL.

Why not the row id: an id from a sequence is given at INSERT, not at COMMIT. Writer A inserts id 7, writer B inserts
id 8 and commits; a reader sees 8 and moves past 7, which commits a moment later and is never read. So an event is
inserted with ``seq`` NULL inside its writer's transaction (a rolled-back savepoint takes it away like any other
row), and just before the transaction commits, ``_number`` takes the next positions from the one-row
``feed_counter``: the UPDATE locks that row until the commit (on PostgreSQL; SQLite has one writer at a time anyway),
so a second writer waits there until the first has committed and then continues from its last number. Positions are
therefore given in commit order, without gaps; when a reader sees position N, every position below N is already
visible. The cost: transactions that wrote events commit one after another (the lock is held only for the last
UPDATE and the COMMIT itself, not for the transaction's work), and readers see nothing of a transaction until it
commits, which is the point.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from sqlmodel import Session, select

from connector.domain import utcnow
from connector.store.tables import FeedCounterRow, OrderEventRow, OrderRow

FEED = "order_events"  # the counter's row
_PENDING = "connector_feed_pending"  # session.info flag: this transaction appended events


class EventKind(StrEnum):
    ORDER_CREATED = "order.created"
    STATUS_CHANGED = "order.status_changed"
    SHIPMENT_CHANGED = "shipment.changed"
    COMMAND_DONE = "command.done"
    COMMAND_FAILED = "command.failed"


def append(session: Session, kind: EventKind, order: OrderRow | tuple[int, str, str, str], data: dict[str, Any],
           *, now: datetime | None = None) -> None:
    """Journal one event about ``order`` (a row, or its id, marketplace, account and external id) in the caller's
    transaction; it gets its feed position when that transaction commits."""
    if isinstance(order, OrderRow):
        order = (order.id, order.marketplace, order.account, order.external_id)
    session.execute(sa.insert(OrderEventRow).values(**event_columns(kind, order, data, now=now)))
    session.info[_PENDING] = True


def append_many(session: Session, events: list[dict[str, Any]]) -> None:
    """Journal events built by ``event_columns`` in one statement (a page of new orders writes dozens)."""
    if events:
        session.execute(sa.insert(OrderEventRow.__table__), events)
        session.info[_PENDING] = True


def event_columns(kind: EventKind, order: tuple[int, str, str, str], data: dict[str, Any], *,
                  now: datetime | None = None) -> dict[str, Any]:
    order_id, marketplace, account, external_id = order
    return {"kind": str(kind), "order_id": order_id, "marketplace": marketplace, "account": account,
            "external_id": external_id, "data": json.dumps(data, ensure_ascii=False, sort_keys=True, default=str),
            "recorded_at": now or utcnow()}


def append_for(session: Session, kind: EventKind, order_id: int, data: dict[str, Any], *,
               now: datetime | None = None) -> None:
    """``append`` for an order known by its id only."""
    ident = session.execute(select(OrderRow.marketplace, OrderRow.account, OrderRow.external_id)
                            .where(OrderRow.id == order_id)).first()
    if ident is not None:
        append(session, kind, (order_id, *ident), data, now=now)


@sa.event.listens_for(sa.orm.Session, "before_commit")
def _number(session: sa.orm.Session) -> None:
    """Give this transaction's events their feed positions, last thing before COMMIT."""
    if not session.info.get(_PENDING) or session.in_nested_transaction():
        return  # a savepoint's release is not the commit: numbering there would hold the lock for the rest
    # Flush first: whatever row locks the rest of the unit of work takes, it takes before it waits for the counter,
    # so no writer ever holds the counter while it waits for another's row (no deadlock).
    session.flush()
    session.info.pop(_PENDING, None)
    last = _lock_counter(session)
    # Under the lock, this transaction's own events are the only ones without a position (another's uncommitted
    # ones are invisible to it): one statement numbers them all in the order they were appended.
    table = OrderEventRow.__table__
    pending = (select(table.c.id, (sa.func.row_number().over(order_by=table.c.id) + last).label("pos"))
               .where(table.c.seq.is_(None)).subquery())
    numbered = session.execute(table.update().where(table.c.id == pending.c.id).values(seq=pending.c.pos),
                               execution_options={"synchronize_session": False}).rowcount
    if numbered:  # none: the savepoint that appended them was rolled back
        c = FeedCounterRow
        session.execute(sa.update(c).where(c.name == FEED).values(value=last + numbered),
                        execution_options={"synchronize_session": False})


def _lock_counter(session: sa.orm.Session) -> int:
    """The counter's value, its row locked until COMMIT (PostgreSQL: FOR UPDATE; SQLite: the write lock that
    BEGIN IMMEDIATE took)."""
    c = FeedCounterRow
    query = select(c.value).where(c.name == FEED).with_for_update()
    value = session.execute(query).scalar()
    if value is None:
        # The migration makes the row; a store emptied by hand lost it: go on after the highest position.
        highest = session.execute(select(sa.func.max(OrderEventRow.seq))).scalar() or 0
        try:
            with session.begin_nested():
                session.execute(sa.insert(c).values(name=FEED, value=highest))
        except sa.exc.IntegrityError:
            pass  # another writer made it first
        value = session.execute(query).scalar_one()
    return value


@dataclass(frozen=True, slots=True)
class FeedEvent:
    row: OrderEventRow

    def as_json(self) -> dict:
        e = self.row
        return {"seq": e.seq, "kind": e.kind, "recorded_at": e.recorded_at.isoformat(),
                "order": {"id": e.order_id, "marketplace": e.marketplace, "account": e.account,
                          "external_id": e.external_id},
                "data": json.loads(e.data or "{}")}


def since(session: Session, position: int, *, limit: int = 100, kinds: Iterable[str] | None = None,
          account: str | None = None) -> list[FeedEvent]:
    """Events after ``position``, oldest first. Resume from the last one's ``seq``; filters never skip a position
    a later call would have to read (positions of other kinds are simply not returned)."""
    query = (select(OrderEventRow).where(OrderEventRow.seq.is_not(None), OrderEventRow.seq > position)
             .order_by(OrderEventRow.seq).limit(limit))
    if kinds:
        query = query.where(OrderEventRow.kind.in_(list(kinds)))
    if account:
        query = query.where(OrderEventRow.account == account)
    return [FeedEvent(row) for row in session.exec(query).all()]


def head(session: Session) -> int:
    """The feed's last committed position (0 when it is empty)."""
    return session.execute(select(sa.func.max(OrderEventRow.seq))).scalar() or 0


def for_order(session: Session, order_id: int, *, limit: int = 1000) -> list[FeedEvent]:
    query = (select(OrderEventRow).where(OrderEventRow.order_id == order_id, OrderEventRow.seq.is_not(None))
             .order_by(OrderEventRow.seq).limit(limit))
    return [FeedEvent(row) for row in session.exec(query).all()]
