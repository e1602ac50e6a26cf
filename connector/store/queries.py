"""Reading the store for people and ERPs: order lists, one order with its timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.errors import OrderNotFound
from connector.store.tables import (
    CommandRow,
    OrderLineRow,
    OrderRow,
    QuarantineRow,
    ShipmentEventRow,
    ShipmentRow,
    StatusHistoryRow,
)
from connector.store.shipments import timeline


@dataclass(frozen=True, slots=True)
class OrderSummary:
    order: OrderRow
    shipment: ShipmentRow | None  # the newest one; an order rarely has more

    def as_json(self) -> dict:
        o, s = self.order, self.shipment
        return {
            "id": o.id,
            "marketplace": o.marketplace,
            "account": o.account,
            "external_id": o.external_id,
            "status": o.status,
            "marketplace_status": o.marketplace_status,
            "marketplace_status_label": o.marketplace_status_label,
            "payment_status": o.payment_status,
            "cancel_reason": o.cancel_reason,
            "ttn": s.ttn if s else None,
            "carrier": s.carrier if s else None,
            "shipment_status": s.status if s else None,
            "return_deadline": o.return_deadline.isoformat() if o.return_deadline else None,
            "total": str(o.total),
            "seller_net": str(o.seller_net) if o.seller_net is not None else None,
            "currency": o.currency,
            "created_at": o.created_at.isoformat(),
            "changed_at": o.changed_at.isoformat(),
            "needs_review": o.needs_review,
        }


@dataclass(frozen=True, slots=True)
class OrderDetail:
    summary: OrderSummary
    lines: list[OrderLineRow]
    shipments: list[ShipmentRow]
    history: list[StatusHistoryRow]
    commands: list[CommandRow]
    parcel_events: dict[int, list[ShipmentEventRow]]  # shipment id → the carrier's timeline, oldest first

    def as_json(self) -> dict:
        o = self.summary.order
        return self.summary.as_json() | {
            "progress": o.progress,
            "review_reason": o.review_reason,
            "status_changed_at": o.status_changed_at.isoformat() if o.status_changed_at else None,
            "synced_at": o.synced_at.isoformat(),
            "version": o.version,
            "buyer": {"name": o.buyer_name, "phone": o.buyer_phone, "email": o.buyer_email},
            "lines": [{"sku": l.sku, "marketplace_item_id": l.marketplace_item_id, "name": l.name,
                       "quantity": l.quantity, "unit_price": str(l.unit_price)} for l in self.lines],
            "shipments": [{"carrier": s.carrier, "ttn": s.ttn, "status": s.status,
                           "carrier_status_code": s.carrier_status_code,
                           "carrier_status_text": s.carrier_status_text,
                           "carrier_updated_at": _iso(s.carrier_updated_at), "checked_at": _iso(s.checked_at),
                           "delivered_at": _iso(s.delivered_at), "storage_until": _iso(s.storage_until),
                           "not_tracked": s.not_tracked,
                           "events": [{"occurred_at": _iso(e.occurred_at), "code": e.code, "status": e.status,
                                       "text": e.text, "place": e.place}
                                      for e in self.parcel_events.get(s.id, [])]}
                          for s in self.shipments],
            "history": [{"recorded_at": h.recorded_at.isoformat(),
                         "occurred_at": h.occurred_at.isoformat() if h.occurred_at else None,
                         "actor": h.actor, "from": h.from_status, "to": h.to_status, "outcome": h.outcome,
                         "marketplace_status": h.marketplace_status,
                         "marketplace_status_label": h.marketplace_status_label, "comment": h.comment}
                        for h in self.history],
            "commands": [{"id": c.id, "kind": c.kind, "state": c.state, "attempts": c.attempts,
                          "last_error": c.last_error, "created_at": c.created_at.isoformat()}
                         for c in self.commands],
        }


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def find_order(session: Session, ref: str) -> OrderRow:
    """REF is the canonical id (``42``) or ``account:external_id`` (``rozetka-main:248888186``)."""
    ref = ref.strip()
    if ref.isdigit():
        row = session.get(OrderRow, int(ref))
    elif ":" in ref:
        account, external_id = ref.split(":", 1)
        row = session.exec(select(OrderRow).where(OrderRow.account == account,
                                                  OrderRow.external_id == external_id)).first()
    else:
        raise OrderNotFound(f"{ref!r} is not an order reference",
                            hint="use the canonical id (42) or account:external_id (rozetka-main:248888186)")
    if row is None:
        raise OrderNotFound(f"no order {ref!r} in the store", hint="list orders with `connector orders`")
    return row


def _latest_shipments(session: Session, order_ids: list[int]) -> dict[int, ShipmentRow]:
    if not order_ids:
        return {}
    newest = (select(ShipmentRow.order_id, sa.func.max(ShipmentRow.id).label("id"))
              .where(ShipmentRow.order_id.in_(order_ids)).group_by(ShipmentRow.order_id).subquery())
    rows = session.exec(select(ShipmentRow).join(newest, ShipmentRow.id == newest.c.id)).all()
    return {s.order_id: s for s in rows}


def filtered(query, *, account: str | Sequence[str] | None = None, status: str | None = None,
             needs_review: bool | None = None, since: datetime | None = None):
    """The order filters every face offers: one account or several, a canonical status, flagged for review,
    stored after a time (``synced_at``)."""
    if account:
        query = query.where(OrderRow.account.in_([account] if isinstance(account, str) else list(account)))
    if status:
        query = query.where(OrderRow.status == status)
    if needs_review is not None:
        query = query.where(OrderRow.needs_review == needs_review)
    if since is not None:
        query = query.where(OrderRow.synced_at > since)
    return query


def list_orders(session: Session, *, account: str | Sequence[str] | None = None, status: str | None = None,
                needs_review: bool | None = None, limit: int = 100) -> list[OrderSummary]:
    query = filtered(select(OrderRow).order_by(OrderRow.changed_at.desc(), OrderRow.id.desc()).limit(limit),
                     account=account, status=status, needs_review=needs_review)
    orders = session.exec(query).all()
    shipments = _latest_shipments(session, [o.id for o in orders])
    return [OrderSummary(o, shipments.get(o.id)) for o in orders]


def order_detail(session: Session, ref: str) -> OrderDetail:
    order = find_order(session, ref)
    by_order = lambda model: select(model).where(model.order_id == order.id).order_by(model.id)  # noqa: E731
    shipments = list(session.exec(by_order(ShipmentRow)).all())
    return OrderDetail(
        summary=OrderSummary(order, shipments[-1] if shipments else None),
        lines=list(session.exec(by_order(OrderLineRow)).all()),
        shipments=shipments,
        history=list(session.exec(by_order(StatusHistoryRow)).all()),
        commands=list(session.exec(by_order(CommandRow)).all()),
        parcel_events=timeline(session, [s.id for s in shipments]),
    )


def quarantined(session: Session, *, account: str | None = None, limit: int = 100) -> list[QuarantineRow]:
    """Records that could not become orders, newest sighting first."""
    query = select(QuarantineRow).order_by(QuarantineRow.last_seen_at.desc(), QuarantineRow.id.desc()).limit(limit)
    if account:
        query = query.where(QuarantineRow.account == account)
    return list(session.exec(query).all())


def quarantine_json(row: QuarantineRow, *, body: bool = False) -> dict:
    return {"id": row.id, "marketplace": row.marketplace, "account": row.account, "external_id": row.external_id,
            "reason": row.reason, "times_seen": row.times_seen, "first_seen_at": row.first_seen_at.isoformat(),
            "last_seen_at": row.last_seen_at.isoformat(), "content_type": row.content_type} | (
        {"body": row.body} if body else {})
