"""A Nova Poshta ``getStatusDocuments`` record → a ``ParcelReport``. Pure: a dict in, a report out, never a raise.

Nova Poshta tells only the current state, so a report holds one event; the tracking job builds the timeline across
runs. ``StatusCode`` is mapped through mappings/novaposhta.yaml; NP's code and words are always kept. Four date
formats arrive, all Kyiv wall-clock time (shared reference §2.2), and become UTC here, once. A record that does not
parse becomes an UNKNOWN report naming the problem, with the record kept, so one bad record never fails a batch.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import CarrierEvent, ParcelReport
from connector.domain.lifecycle import ShipmentStatus
from connector.errors import PayloadError
from mappings import Vocabulary, normal_ttn

KYIV = ZoneInfo("Europe/Kyiv")

# The formats seen in public fixtures (reference §2.2), with and without seconds or time.
_FORMATS = ("%d-%m-%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%H:%M %d.%m.%Y",
            "%d-%m-%Y %H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M")
_DAY_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y")
_NO_TIME_BEFORE = 1900  # a year before this is a placeholder, not a time

# The code-80 stub (reference §3): about 9 keys, an empty Status, EU-return fields instead of the tracking ones.
_STUB_KEYS = frozenset({"PossibilityEUReturn", "FinalEUReturnDate", "EUReturnNumber", "ParentBranchCity",
                        "ParentBranchName", "Edit"})
_PICKUP_POINT = frozenset({ShipmentStatus.READY_FOR_PICKUP})
_AT_SENDER = frozenset({"1", "12"})  # the waybill exists, the parcel is (still) at the sender's city

NOT_FOUND_TEXT = "Номер не знайдено"


def parse_time(value: Any, field: str) -> datetime | None:
    """A Nova Poshta time (Kyiv wall clock) → aware UTC; empty and the 0001 placeholder → None."""
    text = "" if value is None else " ".join(str(value).split())
    if not text:
        return None
    for fmt in _FORMATS:
        try:
            return _utc(datetime.strptime(text, fmt))
        except ValueError:
            continue
    for fmt in _DAY_FORMATS:
        try:
            return _utc(datetime.combine(datetime.strptime(text, fmt).date(), time(0, 0)))
        except ValueError:
            continue
    raise PayloadError(f"{field} {text!r} is not a Nova Poshta time", raw=str(value))


def _utc(naive: datetime) -> datetime | None:
    if naive.year < _NO_TIME_BEFORE:  # "0001-01-01 00:00:00": no scan yet (a .NET empty date)
        return None
    return naive.replace(tzinfo=KYIV).astimezone(UTC)


def is_stub(record: dict[str, Any]) -> bool:
    """The code-80 stub, told by its shape rather than its code: EU-return keys, no Status text, no dates."""
    return bool(_STUB_KEYS & record.keys()) and not _text(record.get("Status")) and "DateCreated" not in record


def report(record: Any, vocabulary: Vocabulary, ttn: str | None = None) -> ParcelReport:
    """The report for one ``data[]`` record; ``ttn`` is the number asked about (default: the record's)."""
    raw = _raw(record)
    number = ttn or (normal_ttn(record.get("Number", "")) if isinstance(record, dict) else "")
    try:
        return _report(record, vocabulary, number, raw)
    except PayloadError as exc:
        return unreadable(number, exc.message, raw, code=_code(record) if isinstance(record, dict) else "")


def match(data: list[Any], asked: dict[str, list[str]], vocabulary: Vocabulary) -> dict[str, ParcelReport]:
    """``data[]`` → a report for every number asked about, keyed by the number as the caller gave it.

    ``asked`` maps each normalised number to the forms it was given in. Records are matched by ``Number``, never by
    position (the order of ``data`` is not documented); a number with no record is NOT_FOUND; a record for a number
    nobody asked about is ignored. One record without a ``Number`` (the stub, or a broken one) is taken for the
    only number asked, since nothing else can be meant.
    """
    found: dict[str, Any] = {}
    numberless = []
    for record in data:
        number = normal_ttn(record.get("Number") or "") if isinstance(record, dict) else ""
        if not number:
            numberless.append(record)
        elif number in asked:
            found.setdefault(number, record)
    if len(asked) == 1 and not found and len(numberless) == 1:
        found[next(iter(asked))] = numberless[0]
    reports: dict[str, ParcelReport] = {}
    for number, given in asked.items():
        for ttn in given:
            reports[ttn] = report(found[number], vocabulary, ttn) if number in found else \
                not_found(ttn, "Nova Poshta's answer has no record for this number", code="")
    return reports


def not_found(ttn: str, text: str = NOT_FOUND_TEXT, raw: str = "", *, code: str = "3") -> ParcelReport:
    """A number Nova Poshta does not know (yet): NOT_FOUND, never an error, and not final. ``code`` is NP's own
    ("3", or the stub's "80"); empty when the answer held no record at all."""
    event = CarrierEvent(code=code, text=text, status=ShipmentStatus.NOT_FOUND, occurred_at=None)
    return ParcelReport(ttn=ttn, status=ShipmentStatus.NOT_FOUND, code=code, text=text, events=(event,), raw=raw)


def unreadable(ttn: str, problem: str, raw: str, *, code: str = "") -> ParcelReport:
    """A record that does not parse: UNKNOWN with the problem in ``text``; the record is kept for a person."""
    return ParcelReport(ttn=ttn, status=ShipmentStatus.UNKNOWN, code=code, text=f"unreadable record: {problem}",
                        raw=raw)


def _report(record: Any, vocabulary: Vocabulary, ttn: str, raw: str) -> ParcelReport:
    if not isinstance(record, dict):
        raise PayloadError(f"a record is a JSON object, not {type(record).__name__}")
    if is_stub(record):
        code = _code(record) or "80"
        return not_found(ttn, f"Nova Poshta answered a stub record (code {code}): the number no longer resolves",
                         raw, code=code)
    code = _code(record)
    if not code:
        raise PayloadError("StatusCode is missing")
    text = _text(record.get("Status"))
    rule = vocabulary.shipment(code)
    status = rule.status
    if status is ShipmentStatus.NOT_FOUND:
        return not_found(ttn, text or NOT_FOUND_TEXT, raw, code=code)

    scanned = parse_time(record.get("DateScan"), "DateScan")
    tracked = parse_time(record.get("TrackingUpdateDate"), "TrackingUpdateDate")
    created = parse_time(record.get("DateCreated"), "DateCreated")
    received = parse_time(record.get("RecipientDateTime"), "RecipientDateTime")
    arrived = parse_time(record.get("ActualDeliveryDate"), "ActualDeliveryDate")
    paid_keeping = parse_time(record.get("DatePayedKeeping"), "DatePayedKeeping")
    first_storage_day = parse_time(record.get("DateFirstDayStorage"), "DateFirstDayStorage")

    updated = tracked or scanned or created
    # The buyer's pickup time when NP gives it; ActualDeliveryDate is the arrival at the branch (the same time of
    # day as DatePayedKeeping a week later in the public fixtures), so it only stands in when the other is empty.
    delivered = (received or arrived) if status is ShipmentStatus.DELIVERED else None
    # Free storage ends when paid keeping starts (DatePayedKeeping, with a time); DateFirstDayStorage gives the day
    # (midnight, Kyiv) when the other is empty.
    storage = (paid_keeping or first_storage_day) if status in _PICKUP_POINT else None

    event = CarrierEvent(code=code, text=text or rule.label, status=status, occurred_at=scanned or updated,
                         place=_place(record, code, status))
    return ParcelReport(ttn=ttn, status=status, code=code, text=text or rule.label, events=(event,),
                        updated_at=updated, delivered_at=delivered, storage_until=storage,
                        new_ttn=_new_ttn(record, ttn), raw=raw)


def _new_ttn(record: dict[str, Any], ttn: str) -> str:
    """A redirect or return re-issues the parcel: ``LastCreatedOnTheBasisNumber`` holds the new waybill. A value
    with a '-' is a money-return document, not a parcel (daaner/NovaPoshta's reading)."""
    value = _text(record.get("LastCreatedOnTheBasisNumber"))
    if not value or "-" in value:
        return ""
    value = normal_ttn(value)
    return "" if value == ttn else value


def _place(record: dict[str, Any], code: str, status: ShipmentStatus) -> str:
    if code in _AT_SENDER or status is ShipmentStatus.CREATED:
        return _text(record.get("WarehouseSender")) or _text(record.get("CitySender"))
    if status in (ShipmentStatus.READY_FOR_PICKUP, ShipmentStatus.DELIVERED):
        return _text(record.get("WarehouseRecipient")) or _text(record.get("CityRecipient"))
    return ""  # on the road the Status text names the city


def _code(record: dict[str, Any]) -> str:
    """``StatusCode`` is a string ("9") in every fixture; a number or "9.0" is read the same."""
    value = record.get("StatusCode")
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _raw(record: Any) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(record)
