"""A Ukrposhta barcode's events → a ``ParcelReport``. Pure: JSON in, a report out, never a raise.

StatusTracking gives the history, so the report's events are the parcel's whole timeline, oldest first; the
current state is the latest event. ``event`` is mapped through mappings/ukrposhta.yaml, with one split the file
cannot say: 41000 with ``eventReason_id`` 10 is the parcel handed back to its sender (sashalenz/ukrpost-api), so
RETURNED, not DELIVERED. Times ("2017-07-29T20:24:00") are Kyiv wall-clock time (inferred, as for Nova Poshta)
and become UTC here. A history that does not parse becomes an UNKNOWN report naming the problem, raw kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import CarrierEvent, ParcelReport
from connector.domain.lifecycle import ShipmentStatus
from connector.errors import PayloadError
from mappings import Vocabulary

KYIV = ZoneInfo("Europe/Kyiv")
DELIVERED_EVENTS = frozenset({"41000", "48000"})
RETURNED_EVENT, RETURNED_REASON = "41000", "10"
NOT_FOUND_TEXT = "Ukrposhta does not know this barcode (notFound)"


def parse_time(value: Any, field: str = "date") -> datetime | None:
    """ISO local time (Kyiv) → aware UTC; an explicit offset is honoured; empty → None."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{field} {text!r} is not a Ukrposhta time", raw=str(value)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KYIV)
    return moment.astimezone(UTC)


def report(ttn: str, events: Any, vocabulary: Vocabulary) -> ParcelReport:
    """The report for one barcode of ``found``; ``ttn`` is the number as the caller gave it."""
    raw = _raw(events)
    try:
        return _report(ttn, events, vocabulary, raw)
    except PayloadError as exc:
        return ParcelReport(ttn=ttn, status=ShipmentStatus.UNKNOWN, code="", text=f"unreadable history: {exc.message}",
                            raw=raw)


def not_found(ttn: str, text: str = NOT_FOUND_TEXT) -> ParcelReport:
    """A barcode Ukrposhta does not know (yet): NOT_FOUND, never an error."""
    return ParcelReport(ttn=ttn, status=ShipmentStatus.NOT_FOUND, code="", text=text)


def event(item: Any, vocabulary: Vocabulary) -> CarrierEvent:
    if not isinstance(item, dict):
        raise PayloadError(f"an event is a JSON object, not {type(item).__name__}")
    code = _code(item.get("event"))
    if not code:
        raise PayloadError("an event has no event code")
    reason_id = _code(item.get("eventReason_id"))
    status = vocabulary.shipment(code).status
    if code == RETURNED_EVENT and reason_id == RETURNED_REASON:
        status = ShipmentStatus.RETURNED
    name, reason = _text(item.get("eventName")), _text(item.get("eventReason"))
    text = f"{name} ({reason})" if name and reason else name or reason or vocabulary.shipment(code).label
    place = " ".join(p for p in (_text(item.get("index")), _text(item.get("name"))) if p)
    return CarrierEvent(code=code, text=text, status=status, occurred_at=parse_time(item.get("date")), place=place)


def _report(ttn: str, events: Any, vocabulary: Vocabulary, raw: str) -> ParcelReport:
    if not isinstance(events, list):
        raise PayloadError(f"a barcode's history is a list of events, not {type(events).__name__}")
    if not events:
        return ParcelReport(ttn=ttn, status=ShipmentStatus.NOT_FOUND, code="",
                            text="Ukrposhta knows the barcode but reports no event yet", raw=raw)
    timeline = [event(item, vocabulary) for item in events]
    # Oldest first. The API's order is not documented; `step` does not grow with time in its own example, so the
    # time decides (a stable sort keeps the API's order for equal times; an event without a time stays in place
    # relative to its neighbours by sorting it with the latest time seen before it).
    keyed, last = [], datetime.min.replace(tzinfo=UTC)
    for position, item in enumerate(timeline):
        last = item.occurred_at or last
        keyed.append((last, position, item))
    timeline = [item for _, _, item in sorted(keyed, key=lambda k: (k[0], k[1]))]
    current = timeline[-1]
    delivered = next((e.occurred_at for e in timeline
                      if e.code in DELIVERED_EVENTS and e.status is ShipmentStatus.DELIVERED), None)
    return ParcelReport(ttn=ttn, status=current.status, code=current.code, text=current.text,
                        events=tuple(timeline), updated_at=current.occurred_at,
                        delivered_at=delivered if current.status is ShipmentStatus.DELIVERED else None,
                        raw=raw)


def _code(value: Any) -> str:
    """``event`` arrives as a number (the docs) or a string (a public client's fixture): read both alike."""
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _raw(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
