"""Writing pulled orders: one upsert per order, inside the caller's transaction, with its history and raw payload.

Identity is the database's unique (marketplace, account, external_id), so a duplicate order cannot exist even when
two pullers race: the loser's insert fails inside a savepoint and it continues as an update.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import (
    Actor,
    Buyer,
    CancelReason,
    MarketplaceStatus,
    Order,
    OrderKey,
    OrderLine,
    Outcome,
    PaymentStatus,
    RawPayload,
    Shipment,
    Status,
    StatusEvent,
    utcnow,
)
from connector.domain.lifecycle import MAIN_PATH, rank
from connector.domain.limits import clean_text
from connector.errors import PayloadError, StoreError
from connector.store.engine import insert_unless_present
from connector.store.events import EventKind, append, append_for
from connector.store.payloads import payload_columns, read_payload
from connector.store.tables import (
    OrderLineRow,
    OrderRow,
    QuarantineRow,
    RawPayloadRow,
    ShipmentRow,
    StatusHistoryRow,
)


class ConcurrentUpdate(StoreError):
    """Another writer changed the order between our read and our write; retry the unit of work."""


class Upsert(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class UpsertResult:
    outcome: Upsert
    order_id: int
    event: StatusEvent | None = None


def upsert_pulled(session: Session, pulled: Order, raw: RawPayload, *, now: datetime | None = None,
                  actor: Actor = Actor.MARKETPLACE, comment: str = "") -> UpsertResult:
    """Merge an order as the marketplace reports it now into the store.

    ``pulled.status`` is the mapped status the marketplace proposes; the lifecycle decides what it does (it never
    regresses, a stale page never overwrites newer data). An identical payload to the last one writes nothing.
    ``actor`` is who caused the change: the marketplace for a pull, the seller when a push is read back.
    A new order is inserted inside a savepoint, so losing the race to another writer merges into theirs (a page
    of pulled orders is written by ``connector.store.pages.upsert_page`` instead, without one).
    """
    now = now or utcnow()
    row = _find(session, pulled.key)
    if row is None:
        try:
            with session.begin_nested():
                return _insert(session, pulled, raw, now, actor, comment)
        except sa.exc.IntegrityError:
            row = _find(session, pulled.key)  # another puller created it first: merge into theirs
            if row is None:
                raise
    return merge(session, row, pulled, raw, now=now, actor=actor, comment=comment)


def _find(session: Session, key: OrderKey) -> OrderRow | None:
    return session.exec(
        select(OrderRow).where(
            OrderRow.marketplace == key.marketplace,
            OrderRow.account == key.account,
            OrderRow.external_id == key.external_id,
        )
    ).first()


def _insert(session: Session, pulled: Order, raw: RawPayload, now: datetime, actor: Actor,
            comment: str) -> UpsertResult:
    order = replace(pulled, progress=-1, status_changed_at=None)  # a mapping's review note (pulled.needs_review) stays
    event = order.propose_status(pulled.status, actor=actor, marketplace_status=pulled.marketplace_status,
                                 occurred_at=pulled.changed_at, first=True, now=now, comment=comment)
    row = OrderRow(**order_columns(order), synced_at=now, payload_sha256=raw.sha256, version=1)
    session.add(row)
    session.flush()
    _journal_created(session, row, now)
    # A new order has nothing to merge with: no look-ups, just inserts (the first pull of an account is big).
    _replace_lines(session, row.id, pulled.lines)
    _merge_shipments(session, row.id, pulled.shipments, now, known=set())
    _add_event(session, row.id, event, row)
    _keep_raw(session, row.id, raw, now, fresh=True)
    return UpsertResult(Upsert.CREATED, row.id, event)


def merge(session: Session, row: OrderRow, pulled: Order, raw: RawPayload, *, now: datetime,
          actor: Actor = Actor.MARKETPLACE, comment: str = "") -> UpsertResult:
    """Merge a pulled order into its stored ``row``; an identical payload to the last one writes nothing."""
    if row.payload_sha256 == raw.sha256:
        return UpsertResult(Upsert.UNCHANGED, row.id)
    order = to_domain(row)
    _keep_raw(session, row.id, raw, now)
    stale = pulled.changed_at < order.changed_at
    proposed = _meant(pulled, order)
    # The marketplace repeating the status it already gave is no news, even where our status has moved past it
    # (a carrier reported the delivery first): it is not proposed again, so it is neither a regression nor a flag.
    restated = (pulled.marketplace_status.code == row.marketplace_status and proposed in MAIN_PATH
                and (rank(proposed) or 0) < order.progress)
    event = None if restated else order.propose_status(
        proposed, actor=actor, marketplace_status=pulled.marketplace_status, occurred_at=pulled.changed_at,
        now=now, comment=comment)
    if event is not None:
        _add_event(session, row.id, event, row)
    if not stale:
        if pulled.needs_review and pulled.marketplace_status.code != row.marketplace_status:
            order.needs_review, order.review_reason = True, pulled.review_reason  # the mapping flags this status
        # The marketplace owns these fields: its newest word replaces ours.
        known = order.buyer
        for name in _OWNED_BY_MARKETPLACE:
            setattr(order, name, getattr(pulled, name))
        # a read that does not show the buyer (Chopni's order page alone) keeps what an earlier read knew
        order.buyer = Buyer(order.buyer.name or known.name, order.buyer.phone or known.phone,
                            order.buyer.email or known.email)
        order.cancel_reason = pulled.cancel_reason if order.status is Status.CANCELLED else None
        _replace_lines(session, row.id, pulled.lines, existing=_lines(session, row.id))
        _merge_shipments(session, row.id, pulled.shipments, now)
    values = order_columns(order) | {"synced_at": now, "payload_sha256": raw.sha256, "version": row.version + 1}
    done = session.execute(
        sa.update(OrderRow).where(OrderRow.id == row.id, OrderRow.version == row.version).values(**values)
    )
    if done.rowcount != 1:
        raise ConcurrentUpdate(f"order {order.key} changed while it was being updated",
                               hint="the page is retried; nothing was written")
    session.expire(row)
    return UpsertResult(Upsert.UPDATED, row.id, event)


def _meant(pulled: Order, stored: Order) -> Status:
    """The status the marketplace's code means for this order: a code whose meaning depends on the order having
    been delivered (a return flow after a sale) is read in the light of how far the stored order came
    (docs/mappings.md, after_delivery)."""
    if pulled.status_after_delivery is not None and stored.progress >= (rank(Status.DELIVERED) or 0):
        return pulled.status_after_delivery
    return pulled.status


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def keep_unparsed(session: Session, key: OrderKey, raw: RawPayload, problem: str, *,
                  now: datetime | None = None) -> int:
    """An order whose payload does not parse is kept, not dropped: its raw payload is stored and the order is
    flagged for review. A first sighting becomes a placeholder in ``unknown`` whose times are the epoch, so the
    first payload that does parse is never mistaken for an old page."""
    now = now or utcnow()
    row = _find(session, key)
    reason = f"payload did not parse: {problem}"[:500]
    if row is None:
        row = OrderRow(marketplace=key.marketplace, account=key.account, external_id=key.external_id,
                       status=Status.UNKNOWN.value, marketplace_status="", currency="", total=0, created_at=EPOCH,
                       changed_at=EPOCH, synced_at=now, needs_review=True, review_reason=reason)
        session.add(row)
        session.flush()
        _journal_created(session, row, now)
        _add_event(session, row.id, StatusEvent(actor=Actor.MARKETPLACE, from_status=None, to_status=Status.UNKNOWN,
                                                outcome=Outcome.UNMAPPED, recorded_at=now, comment=reason))
    elif row.payload_sha256 != raw.sha256:
        session.execute(sa.update(OrderRow).where(OrderRow.id == row.id).values(
            needs_review=True, review_reason=reason, payload_sha256=raw.sha256, synced_at=now,
            version=OrderRow.version + 1))
    _keep_raw(session, row.id, raw, now)
    return row.id


def quarantine(session: Session, key: OrderKey, raw: RawPayload, reason: str, *,
               now: datetime | None = None) -> None:
    """Keep a record that cannot become an order, once per distinct body; a repeat only counts a sighting."""
    now = now or utcnow()
    row = session.exec(select(QuarantineRow).where(QuarantineRow.account == key.account,
                                                   QuarantineRow.sha256 == raw.sha256)).first()
    if row is None:
        session.add(QuarantineRow(marketplace=key.marketplace, account=key.account,
                                  external_id=_printable(key.external_id), reason=_printable(reason),
                                  content_type=raw.content_type, sha256=raw.sha256, body=_printable(raw.body),
                                  first_seen_at=now, last_seen_at=now))
    else:
        row.last_seen_at, row.times_seen, row.reason = now, row.times_seen + 1, _printable(reason)
    session.flush()


def _printable(text: str) -> str:
    return text.replace("\x00", "\\u0000")  # PostgreSQL text cannot hold NUL; JSON bodies already escape it


# Fields a fresh pull carries straight into the stored order; status goes through the lifecycle instead.
_OWNED_BY_MARKETPLACE = ("currency", "total", "seller_net", "changed_at", "payment_status", "buyer")
# Columns that identify a row: never cut, or what is stored and what is looked up would differ.
_IDENTITY = frozenset({"marketplace", "account", "external_id", "ttn"})


def _fit(model, values: dict) -> dict:
    """Make marketplace values fit their columns the same way on every database: overlong text is cut (a long
    product name must not fail a page), control characters dropped; an identity that does not fit, a number out
    of its column's range, is refused with a PayloadError naming the column."""
    limits = _limits(model)
    for key, value in values.items():
        if key not in limits:
            continue
        length, digits, integer = limits[key]
        if isinstance(value, str):
            if key in _IDENTITY:
                if (length and len(value) > length) or clean_text(value) != value:
                    raise PayloadError(f"{key} {value[:40]!r}… does not fit the store ({length} characters, "
                                       "printable)" if len(value) > 40 else
                                       f"{key} {value!r} does not fit the store ({length} characters, printable)")
            else:
                value = values[key] = value.replace("\x00", "")
                if length and len(value) > length:
                    values[key] = value[: length - 1] + "…"
        elif isinstance(value, Decimal) and digits:
            precision, scale = digits
            if not value.is_finite() or abs(value) >= Decimal(10) ** (precision - scale):
                raise PayloadError(f"{key} {value} is beyond its column (NUMERIC({precision}, {scale}))")
        elif isinstance(value, int) and not isinstance(value, bool) and integer:
            if not -(2**31) <= value < 2**31:
                raise PayloadError(f"{key} {value} is beyond its column (a 32-bit integer)")
    return values


@cache
def _limits(model) -> dict[str, tuple[int | None, tuple[int, int] | None, bool]]:
    """Per column: its text length, its NUMERIC (precision, scale), whether it is an integer; read once per table,
    since a page of orders asks for every column of every row."""
    limits = {}
    for column in model.__table__.c:
        kind = column.type
        digits = (kind.precision, kind.scale or 0) if isinstance(kind, sa.Numeric) and kind.precision else None
        limits[column.name] = (getattr(kind, "length", None), digits, isinstance(kind, sa.Integer))
    return limits


def order_columns(order: Order) -> dict:
    return _fit(OrderRow, {
        "marketplace": order.key.marketplace,
        "account": order.key.account,
        "external_id": order.key.external_id,
        "status": order.status.value,
        "progress": order.progress,
        "marketplace_status": order.marketplace_status.code,
        "marketplace_status_label": order.marketplace_status.label,
        "payment_status": order.payment_status.value,
        "cancel_reason": order.cancel_reason.value if order.cancel_reason else None,
        "currency": order.currency,
        "total": order.total,
        "seller_net": order.seller_net,
        "buyer_name": order.buyer.name,
        "buyer_phone": order.buyer.phone,
        "buyer_email": order.buyer.email,
        "created_at": order.created_at,
        "changed_at": order.changed_at,
        "status_changed_at": order.status_changed_at,
        "needs_review": order.needs_review,
        "review_reason": order.review_reason,
    })


def to_domain(row: OrderRow) -> Order:
    return Order(
        key=OrderKey(row.marketplace, row.account, row.external_id),
        status=Status(row.status),
        marketplace_status=MarketplaceStatus(row.marketplace_status, row.marketplace_status_label),
        currency=row.currency,
        total=row.total,
        seller_net=row.seller_net,
        created_at=row.created_at,
        changed_at=row.changed_at,
        payment_status=PaymentStatus(row.payment_status),
        cancel_reason=CancelReason(row.cancel_reason) if row.cancel_reason else None,
        buyer=Buyer(row.buyer_name, row.buyer_phone, row.buyer_email),
        progress=row.progress,
        status_changed_at=row.status_changed_at,
        needs_review=row.needs_review,
        review_reason=row.review_reason,
    )


def _lines(session: Session, order_id: int) -> list[OrderLine]:
    rows = session.exec(select(OrderLineRow).where(OrderLineRow.order_id == order_id)
                        .order_by(OrderLineRow.position)).all()
    return [OrderLine(r.sku, r.marketplace_item_id, r.name, r.quantity, r.unit_price) for r in rows]


def _replace_lines(session: Session, order_id: int, lines: list[OrderLine],
                   existing: list[OrderLine] | None = None) -> None:
    if existing == lines:
        return
    if existing:
        session.execute(sa.delete(OrderLineRow).where(OrderLineRow.order_id == order_id))
    session.add_all(OrderLineRow(**values) for values in line_columns(order_id, lines))


def line_columns(order_id: int, lines: list[OrderLine]) -> list[dict]:
    return [_fit(OrderLineRow, {"order_id": order_id, "position": i, "sku": line.sku,
                                "marketplace_item_id": line.marketplace_item_id, "name": line.name,
                                "quantity": line.quantity, "unit_price": line.unit_price})
            for i, line in enumerate(lines)]


def _merge_shipments(session: Session, order_id: int, shipments: list[Shipment], now: datetime,
                     known: set[str] | None = None) -> None:
    """Add TTNs the marketplace reports; never delete one, never touch the carrier's status (tracking owns it)."""
    if known is None:
        known = set(session.exec(select(ShipmentRow.ttn).where(ShipmentRow.order_id == order_id)).all())
    for s in shipments:
        if s.ttn and s.ttn not in known:
            known.add(s.ttn)
            session.add(ShipmentRow(**shipment_columns(order_id, s, now)))
            append_for(session, EventKind.SHIPMENT_CHANGED, order_id, shipment_added(s), now=now)


def shipment_columns(order_id: int, s: Shipment, now: datetime) -> dict:
    return _fit(ShipmentRow, {
        "order_id": order_id, "carrier": s.carrier, "ttn": s.ttn, "status": s.status.value,
        "carrier_status_code": s.carrier_status_code, "carrier_status_text": s.carrier_status_text,
        "carrier_updated_at": s.carrier_updated_at, "created_at": now})


def shipment_added(s: Shipment) -> dict:
    """The change feed's word for a parcel the marketplace reported."""
    return {"change": "added", "ttn": s.ttn, "carrier": s.carrier, "status": s.status.value, "before": None}


def _add_event(session: Session, order_id: int, event: StatusEvent, row: OrderRow | None = None) -> None:
    """The history row, and the feed's event where an existing order changed (``row``: the order, when loaded,
    saves looking its identity up again)."""
    ms = event.marketplace_status or MarketplaceStatus("")
    session.add(StatusHistoryRow(**history_columns(order_id, event)))
    if event.outcome.applied and event.from_status is not None:  # the feed: what changed an existing order
        data = {"from": event.from_status.value, "to": event.to_status.value, "outcome": event.outcome.value,
                "actor": event.actor.value, "marketplace_status": ms.code, "comment": event.comment,
                "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None}
        if row is not None:
            append(session, EventKind.STATUS_CHANGED, row, data, now=event.recorded_at)
        else:
            append_for(session, EventKind.STATUS_CHANGED, order_id, data, now=event.recorded_at)


def history_columns(order_id: int, event: StatusEvent) -> dict:
    ms = event.marketplace_status or MarketplaceStatus("")
    return {"order_id": order_id, "recorded_at": event.recorded_at, "occurred_at": event.occurred_at,
            "actor": event.actor.value, "from_status": event.from_status.value if event.from_status else None,
            "to_status": event.to_status.value, "outcome": event.outcome.value, "marketplace_status": ms.code,
            "marketplace_status_label": ms.label, "comment": event.comment}


def _journal_created(session: Session, row: OrderRow, now: datetime) -> None:
    append(session, EventKind.ORDER_CREATED, row, order_created(row), now=now)


def order_created(row: OrderRow | dict) -> dict:
    """The change feed's word for a new order (from its row, or the column values it was inserted with)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return {"status": get("status"), "marketplace_status": get("marketplace_status"), "total": str(get("total")),
            "currency": get("currency"), "created_at": get("created_at").isoformat()}


def _keep_raw(session: Session, order_id: int, raw: RawPayload, now: datetime, fresh: bool = False) -> None:
    """Each distinct version once: a version already stored (by us earlier, or a moment ago by another writer)
    is not stored again."""
    if fresh:
        session.add(RawPayloadRow(**payload_columns(raw, order_id, now)))
    else:
        insert_unless_present(session, RawPayloadRow.__table__, payload_columns(raw, order_id, now),
                              ["order_id", "sha256"])


def latest_raw(session: Session, order_id: int) -> RawPayload | None:
    row = session.exec(select(RawPayloadRow).where(RawPayloadRow.order_id == order_id)
                       .order_by(RawPayloadRow.received_at.desc(), RawPayloadRow.id.desc())).first()
    return read_payload(row) if row else None


def remap(session: Session, row: OrderRow, mapped: Order, *, now: datetime | None = None) -> StatusEvent | None:
    """Re-derive an order's canonical status from its stored payload after a mapping change. The change goes
    through the lifecycle like any other (actor: automation), so a remap that would move an order back is
    recorded and flagged for review rather than applied."""
    order = to_domain(row)
    event = order.propose_status(_meant(mapped, order), actor=Actor.AUTOMATION,
                                 marketplace_status=mapped.marketplace_status,
                                 comment="remapped from the stored payload after a mapping change", now=now)
    if event is None and order.cancel_reason == mapped.cancel_reason:
        return None
    if event is not None:
        _add_event(session, row.id, event, row)
    order.cancel_reason = mapped.cancel_reason if order.status is Status.CANCELLED else None
    values = order_columns(order) | {"version": row.version + 1}
    done = session.execute(sa.update(OrderRow).where(OrderRow.id == row.id, OrderRow.version == row.version)
                           .values(**values), execution_options={"synchronize_session": False})
    if done.rowcount != 1:
        raise ConcurrentUpdate(f"order {order.key} changed while it was being remapped", hint="run remap again")
    return event


def propose(session: Session, order_id: int, status: Status, *, actor: Actor, comment: str,
            occurred_at: datetime | None = None, now: datetime | None = None) -> StatusEvent | None:
    """A status someone other than the marketplace reports (the tracking rules), through the lifecycle like any
    other: recorded in the history, applied only where the lifecycle allows."""
    row = session.get(OrderRow, order_id)
    if row is None:
        raise StoreError(f"order {order_id} is gone")
    order = to_domain(row)
    if occurred_at and order.status_changed_at and occurred_at < order.status_changed_at:
        occurred_at = None  # a fact reported late (a scan before our push landed) is still true now: not stale
    event = order.propose_status(status, actor=actor, occurred_at=occurred_at, comment=comment, now=now)
    if event is None:
        return None
    _add_event(session, row.id, event, row)
    done = session.execute(sa.update(OrderRow).where(OrderRow.id == row.id, OrderRow.version == row.version)
                           .values(**order_columns(order) | {"version": row.version + 1, "synced_at": now or utcnow()}),
                           execution_options={"synchronize_session": False})
    if done.rowcount != 1:
        raise ConcurrentUpdate(f"order {order.key} changed while a rule was applied", hint="the run tries again")
    session.expire(row)
    return event
