"""What a carrier's report does to its order: the tracking rules. Pure.

A rule moves the order along the lifecycle (actor ``automation``, the rule's name in the comment) and may ask for a
command to be pushed to the marketplace (Chopni's manual closes an order "upon receiving"). A rule never fights the
marketplace: an order the marketplace has finished is left alone, and a proposal that would move the order back is
not made at all. docs/lifecycle.md lists the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.domain.commands import CommandKind
from connector.domain.lifecycle import TERMINAL, ShipmentStatus, Status, rank


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One thing the carrier reported about a parcel: its own code and words, always kept, and what they mean."""

    code: str
    text: str
    status: ShipmentStatus  # from mappings/<carrier>.yaml; UNKNOWN for a code no rule names
    occurred_at: datetime | None  # UTC; None when the carrier gives no time
    place: str = ""  # a city, a branch, an office, as the carrier names it


@dataclass(frozen=True, slots=True)
class ParcelReport:
    """A parcel as the carrier reports it now. ``events`` are oldest first; a carrier that tells only the current
    state gives one. A number the carrier does not know (yet) is NOT_FOUND, never an error."""

    ttn: str
    status: ShipmentStatus
    code: str  # the carrier's code for the current state
    text: str  # the carrier's words for it
    events: tuple[CarrierEvent, ...] = ()
    updated_at: datetime | None = None  # the carrier's time of the current state
    delivered_at: datetime | None = None  # when the buyer received it (the return window counts from here)
    storage_until: datetime | None = None  # at a pickup point: free storage ends (then it is returned or paid)
    new_ttn: str = ""  # the carrier re-issued the parcel under another number (a redirect, a return)
    raw: str = ""  # the carrier's record for this number, as JSON text


@dataclass(frozen=True, slots=True)
class TrackingRules:
    """One account's rules (configuration: ``accounts[].tracking``, defaults per marketplace)."""

    push_on_delivered: CommandKind | None = None  # a command to push when the buyer has the parcel
    return_days: int = 14  # the buyer's return window, counted from the carrier's delivery time; 0: none
    storage_alert: timedelta = timedelta(days=2)  # warn when free storage at a pickup point ends this soon


@dataclass(frozen=True, slots=True)
class Consequence:
    rule: str  # the rule's name, recorded in the history event's comment
    status: Status  # what the order becomes
    command: CommandKind | None = None  # what to push to the marketplace, if anything


# The carrier's word → the rule it triggers and the order status it means.
RULES: dict[ShipmentStatus, tuple[str, Status]] = {
    ShipmentStatus.IN_TRANSIT: ("carrier has the parcel", Status.SHIPPED),
    ShipmentStatus.OUT_FOR_DELIVERY: ("out for delivery", Status.SHIPPED),
    ShipmentStatus.READY_FOR_PICKUP: ("waiting at a pickup point", Status.READY_FOR_PICKUP),
    ShipmentStatus.DELIVERED: ("delivered", Status.DELIVERED),
    ShipmentStatus.REFUSED: ("refused by the buyer", Status.DELIVERY_FAILED),
    ShipmentStatus.RETURNING: ("returning to the seller", Status.DELIVERY_FAILED),
    ShipmentStatus.RETURNED: ("back at the seller", Status.RETURNED),
    ShipmentStatus.LOST: ("lost by the carrier", Status.DELIVERY_FAILED),
}


def consequence(order_status: Status, progress: int, parcel: ShipmentStatus,
                rules: TrackingRules) -> Consequence | None:
    """What ``parcel`` does to an order at ``order_status`` that has come as far as ``progress``, or None."""
    if order_status in TERMINAL or parcel not in RULES:
        return None
    name, target = RULES[parcel]
    if target is order_status:
        return None
    reached = rank(target)
    # Only forward: a carrier that lags behind the marketplace must not pull the order back (or flag it).
    if reached is not None and target not in (Status.DELIVERY_FAILED, Status.RETURNED) and reached <= progress:
        return None
    if target is Status.DELIVERY_FAILED and order_status in (Status.RETURNED, Status.RETURN_REQUESTED):
        return None
    command = rules.push_on_delivered if target is Status.DELIVERED else None
    return Consequence(name, target, command)


def return_deadline(delivered_at: datetime | None, rules: TrackingRules) -> datetime | None:
    if delivered_at is None or rules.return_days <= 0:
        return None
    return delivered_at + timedelta(days=rules.return_days)


def storage_ends_soon(storage_until: datetime | None, now: datetime, rules: TrackingRules) -> bool:
    return storage_until is not None and now <= storage_until <= now + rules.storage_alert


def next_check(now: datetime, every: timedelta, last_change: datetime | None) -> datetime:
    """Parcels that have not moved for days are asked less often: every ``every`` while they move, up to six
    hours once they have stood still for three days, daily after a week."""
    still = now - last_change if last_change is not None else timedelta(0)
    if still >= timedelta(days=7):
        return now + max(every, timedelta(hours=24))
    if still >= timedelta(days=3):
        return now + max(every, timedelta(hours=6))
    return now + every
