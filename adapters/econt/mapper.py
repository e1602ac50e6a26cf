"""Econt's ``getShipmentStatuses`` answer → one ParcelReport per number asked. Pure: dicts in, reports out.

The parcel's status is decided in the reference's order (§1.4): ``deliveryTime`` set → delivered; else the short
status (``shortDeliveryStatusEn``, then the Bulgarian one); else the newest event's ``destinationType``. Then the
conditions the reference attaches: "Arrived in office" is ready for pickup only for office delivery, "In courier" is
out for delivery only when the newest event says so, a return is a refusal when Econt shows the recipient refused,
and ``lastProcessedInstruction`` return/destroy moves a parcel still on its way to returning/lost.

Events with ``isReceipt`` belong to the return-receipt document, not the parcel: they are left out of ``events``
(the raw record keeps them). Times are epoch milliseconds on the wire (ISO strings are accepted too, a naive one as
Sofia wall-clock) and become UTC here, once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import CarrierEvent, ParcelReport
from adapters.econt.errors import flatten
from connector.domain import ShipmentStatus
from connector.errors import PayloadError
from mappings import Vocabulary, normal_ttn

SOFIA = ZoneInfo("Europe/Sofia")
S = ShipmentStatus

OFFICE = "office"  # receiverDeliveryType of a parcel the buyer collects
REFUSAL_WORDS = ("отказ", "refus")  # a nextShipments reason naming a refusal (inferred: no code is documented)
# Statuses no later signal may turn into another (a return travels under a new number: the original stays returned).
SETTLED = frozenset({S.DELIVERED, S.RETURNED, S.LOST})
UNDER_WAY = frozenset({S.CREATED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.READY_FOR_PICKUP})


def fold(text: Any) -> str:
    """Econt's words as the mapping file keys them: lower case, hyphens as spaces, single spaces."""
    return " ".join(str(text or "").replace("-", " ").split()).casefold()


def moment(value: Any, field: str) -> datetime | None:
    """Epoch milliseconds (what Econt sends) or an ISO string → UTC; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{field} {value!r} is not a time")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"{field} {value!r} is not epoch milliseconds") from None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return moment(int(text), field)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError(f"{field} {value!r} is not a time Econt sends") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=SOFIA)).astimezone(UTC)
    raise PayloadError(f"{field} {value!r} is not a time")


def reports(payload: dict[str, Any], asked: list[str], vocabulary: Vocabulary) -> dict[str, ParcelReport]:
    """A report for every number in ``asked`` (normalised numbers), matched by ``shipmentNumber``, never position.

    An element with only an error may not name its number (reference §1.2): it is attributed when its text names
    one unmatched number, or when exactly one number is left; otherwise each unmatched number is NOT_FOUND with the
    unattributed errors' words. A number Econt did not answer at all is NOT_FOUND too."""
    found: dict[str, ParcelReport] = {}
    orphans: list[dict[str, Any]] = []
    wanted = set(asked)
    for element in _listed(payload.get("shipmentStatuses")):
        status = element.get("status") if isinstance(element, dict) else None
        number = normal_ttn(status.get("shipmentNumber") or "") if isinstance(status, dict) else ""
        if number in wanted and number not in found:
            found[number] = report(number, element, vocabulary)
        else:
            orphans.append(element if isinstance(element, dict) else {"error": {"message": repr(element)}})
    left = [n for n in asked if n not in found]
    for element in list(orphans):
        text = json.dumps(element, ensure_ascii=False)
        named = [n for n in left if n in text]
        if len(named) == 1:
            found[named[0]] = report(named[0], element, vocabulary)
            left.remove(named[0])
            orphans.remove(element)
    if len(left) == 1 and len(orphans) == 1:  # by elimination; with two or more left, never guess
        number = left.pop()
        found[number] = report(number, orphans.pop(), vocabulary)
    words = "; ".join(dict.fromkeys(w for o in orphans for w in flatten(o.get("error")))) or \
        "Econt did not answer for this number"
    raw = json.dumps(orphans, ensure_ascii=False) if orphans else ""
    for number in left:
        found[number] = ParcelReport(ttn=number, status=S.NOT_FOUND, code="", text=words, raw=raw)
    return {n: found[n] for n in asked}


def _listed(value: Any) -> list[Any]:
    """The answer's list, or nothing when it is not one (a hostile or broken answer: every number is then
    NOT_FOUND with Econt's silence as the reason, and the next run asks again)."""
    return value if isinstance(value, list) else []


def report(number: str, element: dict[str, Any], vocabulary: Vocabulary) -> ParcelReport:
    """One element of ``shipmentStatuses`` → the report; a record that does not parse → UNKNOWN with the problem."""
    raw = json.dumps(element, ensure_ascii=False)
    status = element.get("status")
    if status is None:
        error = element.get("error") or {}
        code = str(error.get("type") or "") if isinstance(error, dict) else ""
        text = "; ".join(flatten(error)) or "Econt does not know this number (yet)"
        # Not found, or not scanned yet: Econt says the same for both (reference §1.5), so it is never terminal.
        return ParcelReport(ttn=number, status=S.NOT_FOUND, code=code, text=text, raw=raw)
    try:
        if not isinstance(status, dict):
            raise PayloadError(f"status is {type(status).__name__}, not an object")
        return _report(number, status, vocabulary, raw)
    except (PayloadError, TypeError, ValueError, AttributeError) as exc:
        return ParcelReport(ttn=number, status=S.UNKNOWN, code="", text=f"unreadable Econt record: {exc}", raw=raw)


def _report(number: str, record: dict[str, Any], vocabulary: Vocabulary, raw: str) -> ParcelReport:
    events = tuple(_event(e, record, vocabulary) for e in record.get("trackingEvents") or []
                   if isinstance(e, dict) and not e.get("isReceipt"))
    if all(e.occurred_at for e in events):  # oldest first; without every time, Econt's own order stands
        events = tuple(sorted(events, key=lambda e: e.occurred_at))  # stable: equal times keep Econt's order
    newest = events[-1] if events else None
    delivered_at = moment(record.get("deliveryTime"), "deliveryTime")
    short_en, short_bg = str(record.get("shortDeliveryStatusEn") or ""), str(record.get("shortDeliveryStatus") or "")
    short_code = short_en or short_bg
    short_text = " / ".join(dict.fromkeys(t for t in (short_en, short_bg) if t))

    rule = vocabulary.shipment(fold(short_en))
    if rule.status is S.UNKNOWN:
        rule = vocabulary.shipment(fold(short_bg))  # the En field sometimes carries Cyrillic, or only BG is set
    status, code, text = rule.status, short_code, short_text
    if status is S.READY_FOR_PICKUP and record.get("receiverDeliveryType") != OFFICE:
        status = S.IN_TRANSIT  # at the recipient's office, on its way to a door
    if status is S.OUT_FOR_DELIVERY and (newest is None or newest.code != "in_delivery_courier"):
        status = S.IN_TRANSIT  # "In courier" alone is uncertain (reference §1.4)
    if status is S.UNKNOWN and newest is not None and newest.status is not S.UNKNOWN:
        status, code, text = newest.status, newest.code, newest.text
    if status is S.UNKNOWN and record.get("sendTime") is None and not events:
        status = S.CREATED  # a waybill Econt has not received the parcel for
    if delivered_at is not None and status not in (S.RETURNED, S.RETURNING):
        # deliveryTime decides first, except against a return: the sender taking the parcel back is no delivery
        # to the buyer (inferred).
        status = S.DELIVERED
        code, text = (code, text) if short_code else ("deliveryTime", "Delivered")
    if status is S.DELIVERED and delivered_at is None:
        delivered_at = next((e.occurred_at for e in reversed(events) if e.code == "client"), None)

    instruction = str(record.get("lastProcessedInstruction") or "").strip().casefold()
    if status in UNDER_WAY and instruction == "destroy":
        status = S.LOST
    elif status in UNDER_WAY and instruction == "return":
        status = S.RETURNING
    next_shipments = [n for n in record.get("nextShipments") or [] if isinstance(n, dict)]
    refused_reason = any(any(w in str(n.get("reason") or "").casefold() for w in REFUSAL_WORDS)
                         for n in next_shipments)
    rejected = bool(record.get("rejectOriginalParcelPaySide") or record.get("rejectReturnParcelPaySide"))
    if (status is S.RETURNING and rejected) or (refused_reason and status not in SETTLED):
        status = S.REFUSED

    times = [t for t in (moment(record.get(k), k) for k in ("createdTime", "sendTime", "deliveryTime")) if t]
    updated_at = newest.occurred_at if newest is not None and newest.occurred_at else max(times, default=None)
    new_ttn = str(next_shipments[-1].get("shipmentNumber") or "") if next_shipments else ""
    return ParcelReport(ttn=number, status=status, code=code, text=text, events=events, updated_at=updated_at,
                        delivered_at=delivered_at if status is S.DELIVERED else None,
                        storage_until=None,  # Econt gives no storage deadline in the tracking answer
                        new_ttn=new_ttn, raw=raw)


def _event(event: dict[str, Any], record: dict[str, Any], vocabulary: Vocabulary) -> CarrierEvent:
    kind = str(event.get("destinationType") or "").strip()
    status = vocabulary.shipment(kind).status
    if status is S.READY_FOR_PICKUP and record.get("receiverDeliveryType") != OFFICE:
        status = S.IN_TRANSIT
    office = event.get("officeNameEn") or event.get("officeName") or ""
    city = event.get("cityNameEn") or event.get("cityName") or ""
    place = ", ".join(dict.fromkeys(str(p) for p in (office, city) if p))
    details = str(event.get("destinationDetailsEn") or event.get("destinationDetails") or "").strip()
    # No description field exists: the line is built from the details, the office and the city (reference §1.2).
    text = details or vocabulary.shipment(kind).label or kind
    if place:
        text = f"{text} ({place})"
    return CarrierEvent(kind, text, status, moment(event.get("time"), "trackingEvents[].time"), place)
