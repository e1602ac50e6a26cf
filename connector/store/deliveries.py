"""Webhook deliveries: each feed event a subscription wants becomes one row, leased like the outbox while it is sent.

``fan_out`` follows the feed per subscription (``webhook_cursors``) and writes the rows; a delivery is unique per
(subscription, seq), so two daemons fanning out at once cannot write one twice. ``lease`` takes due rows the way
``commands.lease_due`` does (FOR UPDATE SKIP LOCKED on PostgreSQL): a delivery is never sent by two senders at once,
and a sender that dies mid-send loses its lease when it runs out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import utcnow
from connector.errors import CommandInvalid, OrderNotFound
from connector.store.events import head
from connector.store.tables import OrderEventRow, WebhookCursorRow, WebhookDeliveryRow

OPEN = ("pending", "in_progress")


def fan_out(session: Session, subscription: str, wants: Callable[[str], bool], *, limit: int = 1000,
            now: datetime | None = None) -> int:
    """Write the deliveries of up to ``limit`` feed positions past the subscription's cursor; returns how many.

    A subscription seen for the first time starts at the feed's head: it gets what happens from now on, not the
    store's whole past."""
    now = now or utcnow()
    cursor = _cursor(session, subscription, now)
    events = session.execute(select(OrderEventRow.seq, OrderEventRow.kind)
                             .where(OrderEventRow.seq.is_not(None), OrderEventRow.seq > cursor.position)
                             .order_by(OrderEventRow.seq).limit(limit)).all()
    if not events:
        return 0
    wanted = [(seq, kind) for seq, kind in events if wants(kind)]
    if wanted:
        session.execute(sa.insert(WebhookDeliveryRow), [
            {"subscription": subscription, "seq": seq, "kind": kind, "state": "pending", "attempts": 0,
             "next_attempt_at": now, "locked_by": "", "last_error": "", "created_at": now, "updated_at": now}
            for seq, kind in wanted])
    cursor.position, cursor.updated_at = events[-1][0], now
    session.add(cursor)
    session.flush()
    return len(wanted)


def _cursor(session: Session, subscription: str, now: datetime) -> WebhookCursorRow:
    """The subscription's cursor, locked until the transaction ends (PostgreSQL): a second daemon fanning out the
    same subscription waits here and then continues from where the first stopped."""
    query = (select(WebhookCursorRow).where(WebhookCursorRow.subscription == subscription)
             .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(WebhookCursorRow(subscription=subscription, position=head(session), updated_at=now))
                session.flush()
        except sa.exc.IntegrityError:
            pass  # another daemon made it a moment ago
        row = session.exec(query).one()
    return row


@dataclass(frozen=True, slots=True)
class LeasedDelivery:
    id: int
    subscription: str
    seq: int
    kind: str
    attempts: int
    created_at: datetime


def lease(session: Session, owner: str, *, ttl: timedelta, subscriptions: Collection[str], limit: int = 1,
          now: datetime | None = None) -> list[LeasedDelivery]:
    """Take up to ``limit`` due deliveries of ``subscriptions``, oldest event first: pending ones whose time has
    come, and in-progress ones whose sender's lease ran out (it died mid-send)."""
    now = now or utcnow()
    d = WebhookDeliveryRow
    due = sa.or_(sa.and_(d.state == "pending", sa.or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now)),
                 sa.and_(d.state == "in_progress", d.locked_until < now))
    query = (select(d).where(d.state.in_(OPEN), due, d.subscription.in_(list(subscriptions)))
             .order_by(d.seq, d.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    taken = []
    for row in session.exec(query).all():
        row.state, row.locked_by, row.locked_until = "in_progress", owner, now + ttl
        row.attempts += 1
        row.updated_at = now
        session.add(row)
        taken.append(LeasedDelivery(row.id, row.subscription, row.seq, row.kind, row.attempts, row.created_at))
    session.flush()
    return taken


def finish(session: Session, delivery_id: int, owner: str, *, state: str, status: int | None = None,
           error: str = "", next_attempt_at: datetime | None = None, now: datetime | None = None) -> bool:
    """Record an attempt's outcome, only while the lease is ours (False otherwise)."""
    now = now or utcnow()
    d = WebhookDeliveryRow
    values = {"state": state, "last_status": status, "last_error": error[:2000], "locked_by": "",
              "locked_until": None, "next_attempt_at": next_attempt_at, "updated_at": now}
    if state == "done":
        values["delivered_at"] = now
    done = session.execute(sa.update(d).where(d.id == delivery_id, d.locked_by == owner).values(**values),
                           execution_options={"synchronize_session": False})
    return done.rowcount == 1


def retry(session: Session, delivery_id: int, *, now: datetime | None = None) -> WebhookDeliveryRow:
    """A failed delivery back to pending with a fresh count (`connector webhooks retry ID`); a delivered one is
    sent again too, when a receiver lost what it got."""
    row = session.get(WebhookDeliveryRow, delivery_id)
    if row is None:
        raise OrderNotFound(f"no webhook delivery {delivery_id}", hint="list them with `connector webhooks`")
    if row.state in OPEN:
        raise CommandInvalid(f"delivery {delivery_id} is {row.state}: it is being sent already")
    now = now or utcnow()
    row.state, row.attempts, row.last_error, row.last_status = "pending", 0, "", None
    row.next_attempt_at = row.updated_at = row.created_at = now  # the give-up clock starts again too
    session.add(row)
    return row


def list_deliveries(session: Session, *, state: str | None = None, subscription: str | None = None,
                    limit: int = 100) -> list[WebhookDeliveryRow]:
    query = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id.desc()).limit(limit)
    if state:
        query = query.where(WebhookDeliveryRow.state == state)
    if subscription:
        query = query.where(WebhookDeliveryRow.subscription == subscription)
    return list(session.exec(query).all())


def cursors(session: Session) -> dict[str, int]:
    return {row.subscription: row.position for row in session.exec(select(WebhookCursorRow)).all()}


def delivery_json(row: WebhookDeliveryRow) -> dict:
    iso = lambda v: v.isoformat() if v else None  # noqa: E731
    return {"id": row.id, "subscription": row.subscription, "seq": row.seq, "kind": row.kind, "state": row.state,
            "attempts": row.attempts, "last_status": row.last_status, "last_error": row.last_error,
            "next_attempt_at": iso(row.next_attempt_at), "created_at": iso(row.created_at),
            "delivered_at": iso(row.delivered_at)}
