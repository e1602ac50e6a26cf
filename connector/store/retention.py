"""Retention: how long the store keeps marketplace payloads and buyers' personal data.

The raw payloads hold everything the marketplace sent: names, phones, e-mails, addresses, sometimes buyer IPs. They
are kept for audit and remapping while an order can still change, then purged with the order's own buyer fields.
What is purged, when, and what stays is documented in docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import utcnow
from connector.domain.lifecycle import TERMINAL
from connector.store.tables import OrderRow, QuarantineRow, RawPayloadRow

FINISHED = tuple(s.value for s in TERMINAL)


@dataclass
class Purged:
    orders: int = 0  # finished orders whose payloads and buyer data were removed
    payloads: int = 0  # raw payload rows deleted (old versions and finished orders')
    quarantined: int = 0  # quarantine rows deleted
    order_ids: list[int] = field(default_factory=list)


def purge_all(store, *, finished_after: timedelta, versions: int, now: datetime | None = None,
              dry_run: bool = False) -> Purged:
    """``purge`` in batches, one transaction each, until nothing is left (once, for a dry run). ``now`` lets a
    benchmark ask what a later day's purge would remove."""
    total = Purged()
    while True:
        with store.transaction() as session:
            done = purge(session, finished_after=finished_after, versions=versions, now=now, dry_run=dry_run)
        total.orders += done.orders
        total.payloads += done.payloads
        total.quarantined += done.quarantined
        if dry_run or not (done.orders or done.payloads):
            return total


def purge(session: Session, *, finished_after: timedelta, versions: int, now: datetime | None = None,
          dry_run: bool = False, batch: int = 1000) -> Purged:
    """Remove what the retention settings say is no longer needed.

    - Orders finished (completed, cancelled, refunded, exchanged) more than ``finished_after`` ago: every raw
      payload, and the buyer's name, phone and e-mail on the order. The order, its lines, shipments and history
      stay: an ERP's books still need them.
    - Every other order: all but its newest ``versions`` raw payloads.
    - Quarantined records last seen more than ``finished_after`` ago.
    """
    now = now or utcnow()
    cutoff = now - finished_after
    result = Purged()
    finished = list(session.exec(
        select(OrderRow.id).where(OrderRow.status.in_(FINISHED), OrderRow.status_changed_at < cutoff,
                                  sa.or_(OrderRow.buyer_name != "", OrderRow.buyer_phone != "",
                                         OrderRow.buyer_email != "",
                                         select(RawPayloadRow.id).where(RawPayloadRow.order_id == OrderRow.id)
                                         .exists()))
        .order_by(OrderRow.id).limit(batch)).all())
    result.orders, result.order_ids = len(finished), finished
    if finished:
        result.payloads += _count(session, RawPayloadRow, RawPayloadRow.order_id.in_(finished))
    # Old versions of the other orders: rank each order's payloads newest first, keep the first ``versions``.
    ranked = (select(RawPayloadRow.id, sa.func.row_number().over(
        partition_by=RawPayloadRow.order_id,
        order_by=(RawPayloadRow.received_at.desc(), RawPayloadRow.id.desc())).label("n"))).subquery()
    old = list(session.exec(select(ranked.c.id).where(ranked.c.n > versions).limit(batch * 10)).all())
    result.payloads += len(old)
    stale = QuarantineRow.last_seen_at < cutoff
    result.quarantined = _count(session, QuarantineRow, stale)
    if dry_run:
        return result
    if finished:
        session.execute(sa.delete(RawPayloadRow).where(RawPayloadRow.order_id.in_(finished)))
        session.execute(sa.update(OrderRow).where(OrderRow.id.in_(finished))
                        .values(buyer_name="", buyer_phone="", buyer_email="", version=OrderRow.version + 1),
                        execution_options={"synchronize_session": False})
    if old:
        session.execute(sa.delete(RawPayloadRow).where(RawPayloadRow.id.in_(old)))
    session.execute(sa.delete(QuarantineRow).where(stale))
    return result


def _count(session: Session, model, where) -> int:
    return session.execute(select(sa.func.count()).select_from(model).where(where)).scalar_one()
