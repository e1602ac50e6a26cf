"""Parcels in the store: which are due for a look at their carrier, and what a carrier's report changes.

A report is written in one transaction with whatever it does to its order (the tracking job's rules), so a crash
between the two cannot leave an order behind its parcel: the next run finds the parcel unchanged and does the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import SHIPMENT_TERMINAL, utcnow
from connector.domain.limits import clean_text
from connector.domain.tracking import CarrierEvent, ParcelReport
from connector.store.events import EventKind, append_for
from connector.store.tables import OrderRow, ShipmentEventRow, ShipmentRow

# Orders the marketplace has closed on its side without the parcel being followed to its end: no point asking.
_CLOSED = ("cancelled", "refunded", "exchanged")


@dataclass(frozen=True, slots=True)
class DueParcel:
    shipment_id: int
    order_id: int
    account: str
    marketplace: str
    carrier: str
    ttn: str
    phone: str
    status: str
    not_tracked: str


def due(session: Session, now: datetime, *, accounts: Collection[str] | None = None,
        limit: int = 10_000) -> list[DueParcel]:
    """Shipments whose carrier should be asked now: not in a terminal state, of an order the marketplace has not
    closed otherwise, and due (never asked, or their next look has come)."""
    s, o = ShipmentRow, OrderRow
    query = (select(s.id, s.order_id, o.account, o.marketplace, s.carrier, s.ttn, o.buyer_phone, s.status, s.not_tracked)
             .join(o, o.id == s.order_id)
             .where(s.status.not_in([x.value for x in SHIPMENT_TERMINAL]), o.status.not_in(_CLOSED),
                    sa.or_(s.next_check_at.is_(None), s.next_check_at <= now))
             .order_by(s.next_check_at.is_not(None), s.next_check_at, s.id).limit(limit))
    if accounts is not None:
        query = query.where(o.account.in_(list(accounts)))
    return [DueParcel(*row) for row in session.exec(query).all()]


def mark_not_tracked(session: Session, shipment_ids: Sequence[int], reason: str, next_check_at: datetime) -> int:
    """Say on each shipment why it is not tracked; write only where the reason is new (a quiet cycle writes
    nothing). Returns how many rows changed."""
    if not shipment_ids:
        return 0
    done = session.execute(sa.update(ShipmentRow)
                           .where(ShipmentRow.id.in_(list(shipment_ids)), ShipmentRow.not_tracked != reason)
                           .values(not_tracked=reason, next_check_at=next_check_at),
                           execution_options={"synchronize_session": False})
    return done.rowcount or 0


@dataclass(frozen=True, slots=True)
class Recorded:
    before: str  # the shipment's canonical status before the report
    after: str
    new_events: int
    changed: bool  # the carrier said something it had not said before


def record(session: Session, shipment_id: int, report: ParcelReport, *, next_check_at: datetime,
           now: datetime | None = None) -> Recorded:
    """Write what the carrier says now: the shipment's status and the carrier's own code and words, each event it
    had not reported before (once), and when to ask next."""
    now = now or utcnow()
    row = session.get(ShipmentRow, shipment_id)
    if row is None:
        raise LookupError(f"shipment {shipment_id} is gone")
    before = row.status
    events = list(report.events) or [CarrierEvent(report.code, report.text, report.status, report.updated_at)]
    known = set(session.exec(select(ShipmentEventRow.fingerprint)
                             .where(ShipmentEventRow.shipment_id == shipment_id)).all())
    added = 0
    for event in events:
        mark = fingerprint(event)
        if mark in known:
            continue
        known.add(mark)
        session.add(ShipmentEventRow(shipment_id=shipment_id, fingerprint=mark, code=clean_text(event.code)[:32],
                                     text=clean_text(event.text), status=event.status.value,
                                     place=clean_text(event.place)[:255], occurred_at=event.occurred_at,
                                     recorded_at=now))
        added += 1
    row.status = report.status.value
    row.carrier_status_code = clean_text(report.code)[:32]
    row.carrier_status_text = clean_text(report.text)[:500]
    if added or row.carrier_updated_at is None:
        row.carrier_updated_at = report.updated_at or now
    row.delivered_at = report.delivered_at or row.delivered_at
    row.storage_until = report.storage_until
    row.checked_at, row.next_check_at, row.not_tracked = now, next_check_at, ""
    session.add(row)
    session.flush()
    if added or before != row.status:
        append_for(session, EventKind.SHIPMENT_CHANGED, row.order_id, {
            "change": "status" if before != row.status else "carrier_event", "ttn": row.ttn, "carrier": row.carrier,
            "status": row.status, "before": before, "carrier_status_code": row.carrier_status_code,
            "carrier_status_text": row.carrier_status_text,
            "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None}, now=now)
    return Recorded(before, row.status, added, changed=bool(added) or before != row.status)


def note_event(session: Session, shipment_id: int, event: CarrierEvent, *, now: datetime | None = None) -> bool:
    """Add one event of our own to a parcel's timeline (an alert), once. True when it is new."""
    mark = fingerprint(event)
    exists = session.exec(select(ShipmentEventRow.id).where(ShipmentEventRow.shipment_id == shipment_id,
                                                            ShipmentEventRow.fingerprint == mark)).first()
    if exists is not None:
        return False
    session.add(ShipmentEventRow(shipment_id=shipment_id, fingerprint=mark, code=event.code, text=event.text,
                                 status=event.status.value, place=event.place, occurred_at=event.occurred_at,
                                 recorded_at=now or utcnow()))
    session.flush()
    return True


def fingerprint(event: CarrierEvent) -> str:
    """The same report of the same thing is stored once: the carrier's code, its time, its place and its words."""
    when = event.occurred_at.isoformat() if event.occurred_at else ""
    return hashlib.sha256("\x1f".join((event.code, when, event.place, event.text)).encode()).hexdigest()


def set_return_deadline(session: Session, order_id: int, deadline: datetime) -> None:
    """The first delivery time counts: a later report of the same delivery does not move the deadline."""
    session.execute(sa.update(OrderRow).where(OrderRow.id == order_id, OrderRow.return_deadline.is_(None))
                    .values(return_deadline=deadline, version=OrderRow.version + 1),
                    execution_options={"synchronize_session": False})
    row = session.get(OrderRow, order_id)
    if row is not None:
        session.expire(row)  # its version moved: a versioned update later in this transaction must see it


def timeline(session: Session, shipment_ids: Sequence[int]) -> dict[int, list[ShipmentEventRow]]:
    rows = session.exec(select(ShipmentEventRow).where(ShipmentEventRow.shipment_id.in_(list(shipment_ids)))
                        .order_by(ShipmentEventRow.occurred_at, ShipmentEventRow.id)).all() if shipment_ids else []
    out: dict[int, list[ShipmentEventRow]] = {}
    for event in rows:
        out.setdefault(event.shipment_id, []).append(event)
    return out

