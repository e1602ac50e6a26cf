"""The canonical order lifecycle: its vocabularies, its graph, and the rule that decides each status change.

Three dimensions move independently (docs/lifecycle.md): the order ``status``, its ``payment_status`` and each
shipment's status. Only ``status`` has a graph; the other two are whatever their owner last said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PROCESSING = "processing"
    READY_TO_SHIP = "ready_to_ship"
    SHIPPED = "shipped"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    DELIVERY_FAILED = "delivery_failed"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"
    UNKNOWN = "unknown"


class PaymentStatus(StrEnum):
    UNKNOWN = "unknown"
    UNPAID = "unpaid"
    PAID = "paid"
    CASH_ON_DELIVERY = "cash_on_delivery"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class ShipmentStatus(StrEnum):
    """A parcel as its carrier sees it. The carrier's own code is always kept beside it (mappings/<carrier>.yaml)."""

    CREATED = "created"  # a waybill exists; the carrier has not received the parcel yet
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"  # with a courier on its way to the buyer
    READY_FOR_PICKUP = "ready_for_pickup"  # at a branch or parcel locker; free storage runs out
    DELIVERED = "delivered"
    REFUSED = "refused"  # the buyer refused it; a return follows
    RETURNING = "returning"  # on its way back to the seller
    RETURNED = "returned"  # back at the seller
    LOST = "lost"
    NOT_FOUND = "not_found"  # the carrier does not know the number (yet: new waybills take a while to appear)
    DELETED = "deleted"  # the waybill was deleted
    EXCEPTION = "exception"  # a problem the carrier reports (failed attempt, damage): a person may need to act
    UNKNOWN = "unknown"  # a carrier code no mapping names: kept raw, flagged


# Parcels the tracking job stops asking about: the carrier will say nothing new.
SHIPMENT_TERMINAL: frozenset[ShipmentStatus] = frozenset(
    {ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.LOST, ShipmentStatus.DELETED})


class CancelReason(StrEnum):
    BUYER_REQUEST = "buyer_request"
    BUYER_UNREACHABLE = "buyer_unreachable"
    OUT_OF_STOCK = "out_of_stock"
    PRICE_CHANGED = "price_changed"
    PAYMENT_FAILED = "payment_failed"
    DELIVERY_TERMS = "delivery_terms"
    DUPLICATE = "duplicate"
    FRAUD = "fraud"
    TEST_ORDER = "test_order"
    RESERVE_EXPIRED = "reserve_expired"
    MARKETPLACE = "marketplace"
    OTHER = "other"


class Actor(StrEnum):
    """Who caused a change; every history row names one."""

    MARKETPLACE = "marketplace"
    SELLER = "seller"
    CARRIER = "carrier"
    AUTOMATION = "automation"


class Outcome(StrEnum):
    """What the lifecycle did with a proposed status change."""

    CREATED = "created"  # the first status of a new order
    APPLIED = "applied"  # a legal step of the graph
    JUMP = "jump"  # not a legal step, applied anyway: the marketplace owns its status (an anomaly)
    UNMAPPED = "unmapped"  # the marketplace said something the mapping does not know (an anomaly)
    IGNORED_REGRESSION = "ignored_regression"  # would move back along the main path: kept in history only
    IGNORED_STALE = "ignored_stale"  # older than the status it would replace: kept in history only

    @property
    def applied(self) -> bool:
        return self not in (Outcome.IGNORED_REGRESSION, Outcome.IGNORED_STALE)

    @property
    def anomaly(self) -> bool:
        return self not in (Outcome.APPLIED, Outcome.CREATED)

    @property
    def needs_review(self) -> bool:
        # Jumps are routine (marketplaces skip steps) and stale pages are expected; these two need a person.
        return self in (Outcome.UNMAPPED, Outcome.IGNORED_REGRESSION)


MAIN_PATH: tuple[Status, ...] = (
    Status.NEW,
    Status.ACCEPTED,
    Status.PROCESSING,
    Status.READY_TO_SHIP,
    Status.SHIPPED,
    Status.READY_FOR_PICKUP,
    Status.DELIVERED,
    Status.COMPLETED,
)
_RANK = {status: rank for rank, status in enumerate(MAIN_PATH)}

# How far along the main path an off-path status proves the order has come: a parcel that failed delivery was
# shipped; a return request follows a delivery. Cancelled, refunded and exchanged prove nothing about the path.
_IMPLIED_RANK = {
    Status.DELIVERY_FAILED: _RANK[Status.SHIPPED],
    Status.RETURN_REQUESTED: _RANK[Status.DELIVERED],
    Status.RETURNED: _RANK[Status.SHIPPED],
}

TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.CANCELLED, Status.REFUNDED, Status.EXCHANGED})

_BEFORE_SHIPPING = (Status.NEW, Status.ACCEPTED, Status.PROCESSING, Status.READY_TO_SHIP)

# The legal steps. Anything else the marketplace reports is applied as a JUMP and flagged.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.ACCEPTED, Status.PROCESSING, Status.CANCELLED}),
    # Rozetka offers 26 → 61 directly (a live status_available): terms agreed and the waybill made in one step.
    Status.ACCEPTED: frozenset({Status.PROCESSING, Status.READY_TO_SHIP, Status.CANCELLED}),
    Status.PROCESSING: frozenset({Status.READY_TO_SHIP, Status.SHIPPED, Status.CANCELLED}),
    Status.READY_TO_SHIP: frozenset({Status.SHIPPED, Status.CANCELLED}),
    # Marketplaces without a "delivered" status (Chopni; Rozetka's 5 → 6) close the order straight from transit.
    Status.SHIPPED: frozenset({Status.READY_FOR_PICKUP, Status.DELIVERED, Status.DELIVERY_FAILED, Status.COMPLETED}),
    Status.READY_FOR_PICKUP: frozenset({Status.DELIVERED, Status.DELIVERY_FAILED, Status.COMPLETED}),
    Status.DELIVERED: frozenset({Status.COMPLETED, Status.RETURN_REQUESTED}),
    # Chopni's manual refunds or exchanges a completed order in one step, without a recorded return.
    Status.COMPLETED: frozenset({Status.RETURN_REQUESTED, Status.REFUNDED, Status.EXCHANGED}),
    Status.DELIVERY_FAILED: frozenset({Status.RETURNED}),
    Status.RETURN_REQUESTED: frozenset({Status.RETURNED}),
    Status.RETURNED: frozenset({Status.REFUNDED, Status.EXCHANGED}),
    Status.CANCELLED: frozenset(),
    Status.REFUNDED: frozenset(),
    Status.EXCHANGED: frozenset(),
    # An unknown status is a hole in the mapping, not a place in the graph: leaving it is always legal.
    Status.UNKNOWN: frozenset(set(Status) - {Status.UNKNOWN}),
}


def rank(status: Status) -> int | None:
    """Position on the main path, or the position an off-path status implies; None when it implies none."""
    return _RANK.get(status, _IMPLIED_RANK.get(status))


def can_cancel(status: Status) -> bool:
    return status in _BEFORE_SHIPPING


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    status: Status  # the status after the decision
    progress: int  # the furthest main-path rank reached after the decision

    @property
    def reason(self) -> str:
        return _REASONS[self.outcome]


_REASONS = {
    Outcome.CREATED: "first status of a new order",
    Outcome.APPLIED: "legal step of the lifecycle",
    Outcome.JUMP: "not a legal step of the lifecycle; applied because the marketplace owns this status",
    Outcome.UNMAPPED: "the marketplace status is not in the mapping; add it to the mapping file and run remap",
    Outcome.IGNORED_REGRESSION: "would move the order back along the main path; status kept, event recorded",
    Outcome.IGNORED_STALE: "older than the current status; status kept, event recorded",
}


def decide(
    current: Status | None,
    progress: int,
    proposed: Status,
    *,
    occurred_at: datetime | None = None,
    current_since: datetime | None = None,
) -> Decision:
    """Decide what a proposed status does to an order that is at ``current`` and has come as far as ``progress``.

    ``progress`` is the furthest main-path rank the order ever reached (-1 for a new order). It, not the current
    status, guards against regression: an order that was shipped and then went to ``unknown`` must still not be
    moved back to ``new`` by an old page. Callers handle ``proposed == current`` (nothing happened) themselves.
    """
    if current is None:
        outcome = Outcome.UNMAPPED if proposed is Status.UNKNOWN else Outcome.CREATED
        return Decision(outcome, proposed, max(progress, rank(proposed) or 0))
    if occurred_at is not None and current_since is not None and occurred_at < current_since:
        return Decision(Outcome.IGNORED_STALE, current, progress)
    if proposed is Status.UNKNOWN:
        return Decision(Outcome.UNMAPPED, proposed, progress)
    proposed_rank = rank(proposed)
    if proposed in _RANK and proposed_rank is not None and proposed_rank < progress:
        return Decision(Outcome.IGNORED_REGRESSION, current, progress)
    outcome = Outcome.APPLIED if proposed in TRANSITIONS[current] else Outcome.JUMP
    return Decision(outcome, proposed, max(progress, proposed_rank if proposed_rank is not None else -1))
