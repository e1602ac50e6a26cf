"""Canonical orders as a marketplace pull would produce them, for tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from connector.domain import (
    Buyer, MarketplaceStatus, Order, OrderKey, OrderLine, PaymentStatus, RawPayload, Shipment, Status,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def pulled(external_id: str = "248888186", status: Status = Status.NEW, *, code: str = "1", minutes: int = 0,
           account: str = "rozetka-main", total: str = "640.00", ttn: str = "", **kw) -> Order:
    return Order(
        key=OrderKey("rozetka", account, external_id),
        status=status,
        marketplace_status=MarketplaceStatus(code, f"label {code}"),
        currency="UAH",
        total=Decimal(total),
        created_at=T0,
        changed_at=T0 + timedelta(minutes=minutes),
        payment_status=kw.pop("payment_status", PaymentStatus.CASH_ON_DELIVERY),
        buyer=kw.pop("buyer", Buyer("Test Buyer", "380000000000", "buyer@example.com")),
        lines=kw.pop("lines", [OrderLine("12106", "38221768", "Test book", 1, Decimal(total))]),
        shipments=[Shipment("novaposhta", ttn)] if ttn else [],
        **kw,
    )


def raw_of(order: Order) -> RawPayload:
    """A payload that differs whenever the order's marketplace view differs, as a real one would."""
    return RawPayload(json.dumps({"id": order.key.external_id, "status": order.marketplace_status.code,
                                  "changed": order.changed_at.isoformat(), "total": str(order.total),
                                  "ttn": [s.ttn for s in order.shipments]}))
