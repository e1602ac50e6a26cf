"""Parcels in the store: which are due for a look at their carrier, and what a carrier's report changes.

A report is written in one transaction with whatever it does to its order (the tracking job's rules), so a crash
between the two cannot leave an order behind its parcel: the next run finds the parcel unchanged and does the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import SHIPMENT_TERMINAL, utcnow
from connector.domain.limits import clean_text
from connector.domain.tracking import CarrierEvent, ParcelReport
from connector.store.events import EventKind, append_many, event_columns
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


# What a report writes on its shipment: each of them on every recorded row, so one statement updates them all.
_WRITTEN = ("carrier", "status", "carrier_status_code", "carrier_status_text", "carrier_updated_at", "delivered_at",
            "storage_until", "checked_at", "next_check_at", "not_tracked")


@dataclass(slots=True)
class Tracked:
    """A shipment as a batch of reports sees it: as stored when the batch began, then as the reports change it."""

    id: int
    order: tuple[int, str, str, str]  # its order's id, marketplace, account and external id: the feed's identity
    ttn: str
    carrier: str
    status: str
    carrier_status_code: str
    carrier_status_text: str
    carrier_updated_at: datetime | None
    delivered_at: datetime | None
    storage_until: datetime | None
    checked_at: datetime | None
    next_check_at: datetime | None
    not_tracked: str
    fingerprints: set[str] = field(default_factory=set)  # of the events on its timeline


class ReportWriter:
    """Carrier reports about a batch of parcels, written in the caller's transaction. What they need is read in two
    statements whatever the batch's size, and what they write goes out in one statement per table (``write``), so
    following N parcels costs a few statements per carrier request, not a few per parcel."""

    def __init__(self, session: Session, shipment_ids: Collection[int], *, now: datetime) -> None:
        self.session, self.now = session, now
        self._shipments = _tracked(session, shipment_ids)
        self._events: list[dict] = []  # new shipment_events rows, in the order they were reported
        self._recorded: dict[int, Tracked] = {}
        self._feed: list[dict] = []

    def shipment(self, shipment_id: int) -> Tracked | None:
        return self._shipments.get(shipment_id)

    def record(self, shipment_id: int, report: ParcelReport, *, next_check_at: datetime,
               carrier: str | None = None) -> Recorded:
        """What the carrier says now: the shipment's status and the carrier's own code and words, each event it had
        not reported before (once), and when to ask next. ``carrier``: the one that was asked, stored from now on
        and named by the feed event (the parcel's news came from it)."""
        row = self._shipments[shipment_id]
        before = row.status
        row.carrier = carrier or row.carrier
        events = list(report.events) or [CarrierEvent(report.code, report.text, report.status, report.updated_at)]
        added = 0
        for event in events:
            mark = fingerprint(event)
            if mark in row.fingerprints:
                continue
            row.fingerprints.add(mark)
            self._events.append(_event_columns(shipment_id, mark, event, clean_text(event.code)[:32],
                                               clean_text(event.text), clean_text(event.place)[:255], self.now))
            added += 1
        row.status = report.status.value
        row.carrier_status_code = clean_text(report.code)[:32]
        row.carrier_status_text = clean_text(report.text)[:500]
        if added or row.carrier_updated_at is None:
            row.carrier_updated_at = report.updated_at or self.now
        row.delivered_at = report.delivered_at or row.delivered_at
        row.storage_until = report.storage_until
        row.checked_at, row.next_check_at, row.not_tracked = self.now, next_check_at, ""
        if added or before != row.status:
            self._feed.append(event_columns(EventKind.SHIPMENT_CHANGED, row.order, {
                "change": "status" if before != row.status else "carrier_event", "ttn": row.ttn,
                "carrier": row.carrier, "status": row.status, "before": before,
                "carrier_status_code": row.carrier_status_code, "carrier_status_text": row.carrier_status_text,
                "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None}, now=self.now))
        self._recorded[shipment_id] = row
        return Recorded(before, row.status, added, changed=bool(added) or before != row.status)

    def note(self, shipment_id: int, event: CarrierEvent) -> bool:
        """Add one event of our own to a parcel's timeline (an alert), once. True when it is new."""
        row = self._shipments[shipment_id]
        mark = fingerprint(event)
        if mark in row.fingerprints:
            return False
        row.fingerprints.add(mark)
        self._events.append(_event_columns(shipment_id, mark, event, event.code, event.text, event.place, self.now))
        return True

    def journal(self) -> None:
        """Append the feed events recorded so far. Called before a change they lead to is journalled (the order a
        parcel moves), so that the feed still tells the parcel's news first."""
        append_many(self.session, self._feed)
        self._feed = []

    def write(self) -> None:
        """Everything recorded and not yet written: new events, the shipments, the feed."""
        if self._events:
            self.session.execute(sa.insert(ShipmentEventRow.__table__), self._events)
            self._events = []
        if self._recorded:
            table = ShipmentRow.__table__
            self.session.execute(table.update().where(table.c.id == sa.bindparam("shipment_id")),
                                 [{"shipment_id": row.id} | {name: getattr(row, name) for name in _WRITTEN}
                                  for row in self._recorded.values()])
            self._recorded = {}
        self.journal()


def _tracked(session: Session, shipment_ids: Collection[int]) -> dict[int, Tracked]:
    s, o = ShipmentRow, OrderRow
    ids = list(shipment_ids)
    rows = session.exec(select(s.id, s.ttn, *(getattr(s, name) for name in _WRITTEN), o.id.label("order_id"),
                               o.marketplace, o.account, o.external_id)
                        .join(o, o.id == s.order_id).where(s.id.in_(ids))).all()
    shipments = {row.id: Tracked(id=row.id, order=(row.order_id, row.marketplace, row.account, row.external_id),
                                 ttn=row.ttn, **{name: getattr(row, name) for name in _WRITTEN})
                 for row in rows}
    for shipment_id, mark in session.exec(select(ShipmentEventRow.shipment_id, ShipmentEventRow.fingerprint)
                                          .where(ShipmentEventRow.shipment_id.in_(ids))):
        shipments[shipment_id].fingerprints.add(mark)
    return shipments


def _event_columns(shipment_id: int, mark: str, event: CarrierEvent, code: str, text: str, place: str,
                   now: datetime) -> dict:
    return {"shipment_id": shipment_id, "fingerprint": mark, "code": code, "text": text, "status": event.status.value,
            "place": place, "occurred_at": event.occurred_at, "recorded_at": now}


def record(session: Session, shipment_id: int, report: ParcelReport, *, next_check_at: datetime,
           now: datetime | None = None) -> Recorded:
    """One report, written at once (``ReportWriter`` writes a batch of them)."""
    writer = ReportWriter(session, [shipment_id], now=now or utcnow())
    if writer.shipment(shipment_id) is None:
        raise LookupError(f"shipment {shipment_id} is gone")
    recorded = writer.record(shipment_id, report, next_check_at=next_check_at)
    writer.write()
    return recorded


def fingerprint(event: CarrierEvent) -> str:
    """The same report of the same thing is stored once: the carrier's code, its time, its place and its words."""
    when = event.occurred_at.isoformat() if event.occurred_at else ""
    return hashlib.sha256("\x1f".join((event.code, when, event.place, event.text)).encode()).hexdigest()


def set_return_deadlines(session: Session, deadlines: Sequence[tuple[int, datetime]]) -> None:
    """(order id, deadline) in one statement. The first delivery time counts: a later report of the same delivery
    does not move the deadline."""
    if not deadlines:
        return
    orders = OrderRow.__table__
    session.execute(orders.update().where(orders.c.id == sa.bindparam("order_id"), orders.c.return_deadline.is_(None))
                    .values(return_deadline=sa.bindparam("deadline"), version=orders.c.version + 1),
                    [{"order_id": order_id, "deadline": deadline} for order_id, deadline in deadlines])


def timeline(session: Session, shipment_ids: Sequence[int]) -> dict[int, list[ShipmentEventRow]]:
    rows = session.exec(select(ShipmentEventRow).where(ShipmentEventRow.shipment_id.in_(list(shipment_ids)))
                        .order_by(ShipmentEventRow.occurred_at, ShipmentEventRow.id)).all() if shipment_ids else []
    out: dict[int, list[ShipmentEventRow]] = {}
    for event in rows:
        out.setdefault(event.shipment_id, []).append(event)
    return out

