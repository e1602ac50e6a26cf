"""Econt records → ParcelReports: every documented code, the reference's precedence and conditions, times in UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.econt import mapper
from connector.domain import ShipmentStatus as S
from mappings import load

V = load("econt")
T = 1767607200000  # 2026-01-05T10:00:00Z


def record(number="1050000000001", events=(), **kw):
    base = {"shipmentNumber": number, "sendTime": T, "deliveryTime": None, "shortDeliveryStatus": None,
            "shortDeliveryStatusEn": None, "receiverDeliveryType": "office", "trackingEvents": list(events),
            "nextShipments": [], "lastProcessedInstruction": None}
    return base | kw


def event(kind, t=T, **kw):
    return {"time": t, "isReceipt": False, "destinationType": kind, "officeNameEn": "Sofia - Center",
            "cityNameEn": "Sofia"} | kw


def one(rec, number="1050000000001"):
    return mapper.reports({"shipmentStatuses": [{"status": rec, "error": None}]}, [number], V)[number]


@pytest.mark.parametrize("code", V.documented)
def test_every_documented_code_has_a_canonical_status(code):
    assert V.shipment(code).status is not S.UNKNOWN


EXPECTED_SHORT = {  # reference §1.4, short statuses 1-14 (office delivery; the conditions are tested below)
    "Prepared in eEcont": S.CREATED, "Accepted in Econt": S.IN_TRANSIT, "In route": S.IN_TRANSIT,
    "In pick up courier": S.IN_TRANSIT, "Accepted in office": S.IN_TRANSIT,
    "In delivery courier's office": S.IN_TRANSIT, "Arrived in office": S.READY_FOR_PICKUP,
    "Arrival departure from hub": S.IN_TRANSIT, "Delivered": S.DELIVERED, "Cancelled after sending": S.LOST,
    "Cancelled before sending": S.LOST, "Is returning to sender": S.RETURNING, "Returned to sender": S.RETURNED,
}


@pytest.mark.parametrize(("words", "status"), EXPECTED_SHORT.items())
def test_short_statuses_decide_the_status(words, status):
    report = one(record(shortDeliveryStatusEn=words))
    assert report.status is status and report.code == words


def test_short_statuses_are_folded_and_the_bulgarian_one_is_tried_too():
    assert one(record(shortDeliveryStatusEn="Arrival-Departure from HUB")).status is S.IN_TRANSIT
    assert one(record(shortDeliveryStatusEn="Пристигнала в офис")).status is S.READY_FOR_PICKUP  # Cyrillic in En
    assert one(record(shortDeliveryStatusEn="Something new", shortDeliveryStatus="Доставена",
                      deliveryTime=T)).status is S.DELIVERED


def test_arrived_in_office_is_ready_for_pickup_only_for_office_delivery():
    assert one(record(shortDeliveryStatusEn="Arrived in office", receiverDeliveryType="door")).status is S.IN_TRANSIT
    door = one(record(events=[event("in_delivery_office")], receiverDeliveryType="door"))
    assert door.status is S.IN_TRANSIT and door.events[0].status is S.IN_TRANSIT


def test_in_courier_is_out_for_delivery_only_after_an_in_delivery_courier_event():
    assert one(record(shortDeliveryStatusEn="In courier", events=[event("courier_direction")])).status \
        is S.IN_TRANSIT
    assert one(record(shortDeliveryStatusEn="In courier", events=[event("in_delivery_courier")])).status \
        is S.OUT_FOR_DELIVERY


def test_delivery_time_decides_first_and_gives_delivered_at_in_utc():
    report = one(record(shortDeliveryStatusEn="In route", deliveryTime=T + 3_600_000))
    assert report.status is S.DELIVERED and report.delivered_at == datetime(2026, 1, 5, 11, tzinfo=UTC)


def test_a_client_event_without_delivery_time_is_delivered_at_the_events_time():
    report = one(record(events=[event("office"), event("client", T + 7_200_000)]))
    assert report.status is S.DELIVERED and report.delivered_at == datetime(2026, 1, 5, 12, tzinfo=UTC)


def test_the_newest_event_decides_when_the_short_status_is_unmapped_and_unknown_words_are_kept():
    report = one(record(shortDeliveryStatusEn="Totally new", events=[event("office"), event("return", T + 1)]))
    assert report.status is S.RETURNING and report.code == "return"
    raw = one(record(shortDeliveryStatusEn="Totally new", events=[event("teleported")]))
    assert raw.status is S.UNKNOWN and raw.code == "Totally new" and raw.events[0].code == "teleported"
    assert raw.events[0].status is S.UNKNOWN


def test_no_send_time_and_no_events_is_created():
    assert one(record(sendTime=None)).status is S.CREATED


def test_a_return_with_refusal_evidence_is_refused():
    base = dict(shortDeliveryStatusEn="Is returning to sender")
    assert one(record(**base)).status is S.RETURNING
    assert one(record(**base, rejectOriginalParcelPaySide="sender")).status is S.REFUSED
    refused = one(record(**base, nextShipments=[{"shipmentNumber": "1050000000002", "reason": "Отказ от получателя"}]))
    assert refused.status is S.REFUSED and refused.new_ttn == "1050000000002"


def test_returned_to_sender_is_returned_even_with_a_delivery_time():
    report = one(record(shortDeliveryStatusEn="Returned to sender", deliveryTime=T,
                        events=[event("returned_to_sender")]))
    assert report.status is S.RETURNED and report.delivered_at is None


def test_instructions_move_a_parcel_under_way():
    assert one(record(shortDeliveryStatusEn="In route", lastProcessedInstruction="return")).status is S.RETURNING
    assert one(record(shortDeliveryStatusEn="In route", lastProcessedInstruction="destroy")).status is S.LOST


def test_events_are_oldest_first_in_utc_and_receipt_events_are_left_out():
    report = one(record(shortDeliveryStatusEn="In route", events=[
        event("courier_direction", T + 3_600_000), event("office", T),
        event("client", T + 7_200_000, isReceipt=True)]))
    assert [e.code for e in report.events] == ["office", "courier_direction"]
    assert report.events[0].occurred_at == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert report.updated_at == datetime(2026, 1, 5, 11, tzinfo=UTC)
    assert report.status is S.IN_TRANSIT  # the receipt's "client" did not make it delivered


def test_iso_times_are_accepted_and_naive_ones_are_sofia_time():
    report = one(record(shortDeliveryStatusEn="In route", events=[event("office", "2026-07-01T12:00:00")]))
    assert report.events[0].occurred_at == datetime(2026, 7, 1, 9, tzinfo=UTC)  # EEST, UTC+3


def test_records_are_matched_by_number_not_position():
    payload = {"shipmentStatuses": [
        {"status": record("1050000000002", shortDeliveryStatusEn="Delivered", deliveryTime=T), "error": None},
        {"status": record("1050000000001", shortDeliveryStatusEn="In route"), "error": None}]}
    reports = mapper.reports(payload, ["1050000000001", "1050000000002"], V)
    assert reports["1050000000001"].status is S.IN_TRANSIT and reports["1050000000002"].status is S.DELIVERED


def test_a_lone_error_is_attributed_by_elimination_and_several_are_never_guessed():
    err = {"status": None, "error": {"type": "X", "message": "not found", "innerErrors": [{"message": "deeper"}]}}
    ok = {"status": record("1050000000001", shortDeliveryStatusEn="In route"), "error": None}
    reports = mapper.reports({"shipmentStatuses": [err, ok]}, ["1050000000001", "1050000000002"], V)
    assert reports["1050000000002"].status is S.NOT_FOUND and reports["1050000000002"].text == "not found; deeper"
    two = mapper.reports({"shipmentStatuses": [err, err]}, ["1050000000001", "1050000000002"], V)
    assert {r.status for r in two.values()} == {S.NOT_FOUND} and all("not found" in r.text for r in two.values())


def test_a_number_econt_did_not_answer_is_not_found():
    reports = mapper.reports({"shipmentStatuses": []}, ["1050000000001"], V)
    assert reports["1050000000001"].status is S.NOT_FOUND


def test_a_broken_record_does_not_fail_the_others():
    broken = record("1050000000001", shortDeliveryStatusEn="In route", events=[event("office", "yesterday-ish")])
    payload = {"shipmentStatuses": [{"status": broken, "error": None},
                                    {"status": record("1050000000002", shortDeliveryStatusEn="Delivered",
                                                      deliveryTime=T), "error": None}]}
    reports = mapper.reports(payload, ["1050000000001", "1050000000002"], V)
    bad = reports["1050000000001"]
    assert bad.status is S.UNKNOWN and "yesterday-ish" in bad.text
    assert json.loads(bad.raw)["status"]["shipmentNumber"] == "1050000000001"
    assert reports["1050000000002"].status is S.DELIVERED
