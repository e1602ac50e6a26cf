"""The canonical order: what every marketplace's order becomes, and the one way its status changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from connector.domain.lifecycle import (
    Actor,
    CancelReason,
    Outcome,
    PaymentStatus,
    ShipmentStatus,
    Status,
    decide,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_utc(value: datetime | None, name: str) -> datetime | None:
    """Naive datetimes are how connectors lose orders (local-time filters, DST): refuse them at the boundary."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return value.astimezone(UTC) if value is not None else None


@dataclass(frozen=True, slots=True)
class OrderKey:
    """An order's identity: unique per (marketplace, account, external id) by a database constraint."""

    marketplace: str
    account: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.account}:{self.external_id}"


@dataclass(frozen=True, slots=True)
class MarketplaceStatus:
    """The marketplace's own status, kept beside the canonical one (lossless mapping)."""

    code: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class RawPayload:
    """The marketplace's original words for one order (a JSON text or an HTML extract), kept for audit and remap."""

    body: str
    content_type: str = "application/json"
    sha256: str = field(init=False, repr=False, compare=False)  # what identifies a version: asked for often

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.body.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class Buyer:
    """The minimum needed to recognise an order; addresses stay in the raw payload."""

    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    marketplace_item_id: str
    name: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Shipment:
    carrier: str
    ttn: str
    status: ShipmentStatus = ShipmentStatus.CREATED
    carrier_status_code: str = ""
    carrier_status_text: str = ""
    carrier_updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One row of an order's status history: who proposed what, when, and what the lifecycle did with it."""

    actor: Actor
    from_status: Status | None
    to_status: Status
    outcome: Outcome
    recorded_at: datetime
    occurred_at: datetime | None = None
    marketplace_status: MarketplaceStatus | None = None
    comment: str = ""


@dataclass
class Order:
    key: OrderKey
    status: Status
    marketplace_status: MarketplaceStatus
    currency: str
    total: Decimal
    created_at: datetime
    changed_at: datetime
    payment_status: PaymentStatus = PaymentStatus.UNKNOWN
    cancel_reason: CancelReason | None = None
    # What the seller receives (after the marketplace's commission, with shipping) where the marketplace shows it;
    # ``total`` is always what the buyer pays.
    seller_net: Decimal | None = None
    buyer: Buyer = field(default_factory=Buyer)
    lines: list[OrderLine] = field(default_factory=list)
    shipments: list[Shipment] = field(default_factory=list)
    progress: int = -1
    status_changed_at: datetime | None = None
    needs_review: bool = False
    review_reason: str = ""
    # Not stored: what the marketplace's status means once the order was delivered (a mapping's after_delivery);
    # the store uses it in place of ``status`` when the stored order has come that far.
    status_after_delivery: Status | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.total, Decimal):
            raise TypeError(f"total must be a Decimal, got {type(self.total).__name__}")
        self.created_at = require_utc(self.created_at, "created_at")
        self.changed_at = require_utc(self.changed_at, "changed_at")
        self.status_changed_at = require_utc(self.status_changed_at, "status_changed_at")

    def propose_status(
        self,
        proposed: Status,
        *,
        actor: Actor,
        marketplace_status: MarketplaceStatus | None = None,
        occurred_at: datetime | None = None,
        comment: str = "",
        first: bool = False,
        now: datetime | None = None,
    ) -> StatusEvent | None:
        """Apply the lifecycle rules to a status someone reports; return the history event, or None if nothing
        changed. ``first`` marks the order's very first status (it has no ``from``)."""
        now = now or utcnow()
        occurred_at = require_utc(occurred_at, "occurred_at")
        if not first and proposed is self.status:
            if marketplace_status is not None:
                self.marketplace_status = marketplace_status  # a relabel of the same canonical status
            return None
        decision = decide(
            None if first else self.status,
            self.progress,
            proposed,
            occurred_at=occurred_at,
            current_since=self.status_changed_at,
        )
        event = StatusEvent(
            actor=actor,
            from_status=None if first else self.status,
            to_status=proposed,
            outcome=decision.outcome,
            recorded_at=now,
            occurred_at=occurred_at,
            marketplace_status=marketplace_status,
            comment=comment,
        )
        if decision.outcome.applied:
            self.status = decision.status
            self.status_changed_at = occurred_at or now
            if marketplace_status is not None:
                self.marketplace_status = marketplace_status
        self.progress = decision.progress
        if decision.outcome.needs_review:
            self.needs_review = True
            self.review_reason = f"{event.from_status or '-'} → {proposed}: {decision.reason}"
        return event
