"""Speedy's ``/track`` answer → one ParcelReport per number asked. Pure: dicts in, reports out.

The status is the mapped status of the newest operation by ``dateTime`` that decides anything: 175 (Predict: a
delivery window) and 195 (the recipient declined the *contents check*, then usually takes the parcel) are skipped
(reference §2.3). 111 (Return to Sender) is a refusal when its ``exceptionCodes`` hold one. ``trackPhase`` (vendor
schema only) decides when no operation does. A return travels under a new number (``returnShipmentId``), and Speedy
writes 124 into the original's history: the original is then ``returned``.

Times are ``yyyy-MM-ddTHH:mm:ssZ`` with a colon-less offset (``+0200``) and become UTC here; a time without an
offset is Sofia wall-clock. The recipient's name (``consignee``) is personal data: it is dropped from ``raw``.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import CarrierEvent, ParcelReport
from connector.domain import ShipmentStatus
from connector.errors import PayloadError
from mappings import Vocabulary, normal_ttn

SOFIA = ZoneInfo("Europe/Sofia")
S = ShipmentStatus

NO_CHANGE = frozenset({"175", "195"})  # operations that never decide the parcel's status
RETURN_TO_SENDER = "111"
REFUSAL_EXCEPTIONS = frozenset({"12", "14", "15", "16", "1006"})  # Appendix 2: refused (1006: after a check)
PERSONAL = ("consignee",)


def moment(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{field} {value!r} is not a Speedy time")
    text = value.strip()
    for pattern in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, pattern).astimezone(UTC)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{field} {value!r} is not a Speedy time (yyyy-MM-ddTHH:mm:ssZ)") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=SOFIA)).astimezone(UTC)


def reports(payload: dict[str, Any], asked: list[str], vocabulary: Vocabulary) -> dict[str, ParcelReport]:
    """A report for every number in ``asked`` (normalised), matched by ``parcelId``, never by position. A parcel
    without a usable ``parcelId`` is attributed only when exactly one number is left; a number Speedy left out of
    its answer (an unknown number may simply be missing) is NOT_FOUND."""
    found: dict[str, ParcelReport] = {}
    orphans: list[Any] = []
    parcels = payload.get("parcels")
    for parcel in parcels if isinstance(parcels, list) else []:  # a broken answer: every number NOT_FOUND
        number = normal_ttn(parcel.get("parcelId") or "") if isinstance(parcel, dict) else ""
        if number in asked and number not in found:
            found[number] = report(number, parcel, vocabulary)
        else:
            orphans.append(parcel)
    left = [n for n in asked if n not in found]
    if len(left) == 1 and len(orphans) == 1:  # by elimination; with more, never guess
        number = left.pop()
        found[number] = report(number, orphans.pop(), vocabulary)
    for number in left:
        found[number] = ParcelReport(ttn=number, status=S.NOT_FOUND, code="",
                                     text="Speedy did not answer for this number",
                                     raw=json.dumps(orphans, ensure_ascii=False) if orphans else "")
    return {n: found[n] for n in asked}


def report(number: str, parcel: Any, vocabulary: Vocabulary) -> ParcelReport:
    """One TrackedParcel → the report; one that does not parse → UNKNOWN with the problem, raw kept."""
    raw = json.dumps(_without_personal_data(parcel), ensure_ascii=False)
    try:
        if not isinstance(parcel, dict):
            raise PayloadError(f"a parcel is {type(parcel).__name__}, not an object")
        error = parcel.get("error")
        if error and not parcel.get("operations"):
            err = error if isinstance(error, dict) else {"message": str(error)}
            # An unknown (or not yet known) number: a report, not an exception, and never terminal.
            return ParcelReport(ttn=number, status=S.NOT_FOUND, code=str(err.get("code") or ""),
                                text=str(err.get("message") or "Speedy does not know this number"), raw=raw)
        return _report(number, parcel, vocabulary, raw)
    except (PayloadError, TypeError, ValueError, AttributeError) as exc:
        return ParcelReport(ttn=number, status=S.UNKNOWN, code="", text=f"unreadable Speedy record: {exc}", raw=raw)


def _report(number: str, parcel: dict[str, Any], vocabulary: Vocabulary, raw: str) -> ParcelReport:
    operations = [op for op in parcel.get("operations") or [] if isinstance(op, dict)]
    timed = [(moment(op.get("dateTime"), "operations[].dateTime"), i, op) for i, op in enumerate(operations)]
    if all(at for at, _, _ in timed):
        timed.sort(key=lambda t: (t[0], t[1]))  # oldest first; equal times keep Speedy's order
    events = tuple(_event(op, at, vocabulary) for at, _, op in timed)
    deciding = [(e, op) for e, (_, _, op) in zip(events, timed, strict=True) if e.code not in NO_CHANGE]
    if not events:
        phase = str(parcel.get("trackPhase") or "")
        status = vocabulary.shipment(phase).status if phase else S.NOT_FOUND
        return ParcelReport(ttn=number, status=status, code=phase,
                            text=phase or "Speedy has no operations for this number yet", raw=raw)
    newest, newest_op = deciding[-1] if deciding else (events[-1], timed[-1][2])
    status, code, text = newest.status, newest.code, newest.text
    if code == RETURN_TO_SENDER and REFUSAL_EXCEPTIONS & {str(c) for c in newest_op.get("exceptionCodes") or []}:
        status = S.REFUSED
    if status is S.UNKNOWN and parcel.get("trackPhase"):
        phase_rule = vocabulary.shipment(parcel["trackPhase"])
        if phase_rule.status is not S.UNKNOWN:
            status = phase_rule.status  # the code and words stay the operation's: they are what Speedy said
    if not deciding:  # only Predict / check refusals so far: the parcel is on its way (inferred)
        status = S.IN_TRANSIT
    delivered_at = next((e.occurred_at for e in reversed(events) if e.code == "-14"), None)
    new_ttn = next((str(op.get("returnShipmentId") or op.get("redirectShipmentId"))
                    for _, _, op in reversed(timed) if op.get("returnShipmentId") or op.get("redirectShipmentId")),
                   "")
    return ParcelReport(ttn=number, status=status, code=code, text=text, events=events,
                        updated_at=newest.occurred_at,
                        delivered_at=delivered_at if status is S.DELIVERED else None,
                        storage_until=None,  # Speedy's tracking gives no storage deadline
                        new_ttn=new_ttn, raw=raw)


def _event(op: dict[str, Any], at: datetime | None, vocabulary: Vocabulary) -> CarrierEvent:
    code = str(op.get("operationCode", "")).strip()
    description = str(op.get("description") or "").strip() or vocabulary.shipment(code).label or code
    comment = "; ".join(line.strip() for line in str(op.get("comment") or "").splitlines() if line.strip())
    exceptions = ",".join(str(c) for c in op.get("exceptionCodes") or [])
    text = description + (f": {comment}" if comment else "") + (f" [exceptions {exceptions}]" if exceptions else "")
    return CarrierEvent(code, text, vocabulary.shipment(code).status, at, str(op.get("place") or ""))


def _without_personal_data(parcel: Any) -> Any:
    if not isinstance(parcel, dict):
        return parcel
    clean = copy.deepcopy(parcel)
    for op in clean.get("operations") or []:
        if isinstance(op, dict):
            for key in PERSONAL:
                op.pop(key, None)
    return clean
