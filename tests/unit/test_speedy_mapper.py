"""Speedy TrackedParcels → ParcelReports: every documented code, the newest deciding operation, times in UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.speedy import mapper
from connector.domain import ShipmentStatus as S
from mappings import load

V = load("speedy")


def op(code, minute=0, **kw):
    return {"dateTime": f"2026-01-05T10:{minute:02d}:00+0200", "operationCode": code,
            "description": f"op {code}", "additionalInfo": {}} | kw


def one(operations, parcel_id="299999990", **kw):
    payload = {"parcels": [{"parcelId": parcel_id, "operations": operations} | kw]}
    return mapper.reports(payload, [parcel_id], V)[parcel_id]


EXPECTED = {  # reference §2.3
    148: S.CREATED, 164: S.CREATED, 39: S.IN_TRANSIT, 11: S.IN_TRANSIT, 1: S.IN_TRANSIT, 2: S.IN_TRANSIT,
    21: S.IN_TRANSIT, 38: S.IN_TRANSIT, 44: S.IN_TRANSIT, 69: S.IN_TRANSIT, 181: S.IN_TRANSIT, 190: S.IN_TRANSIT,
    169: S.IN_TRANSIT, 115: S.IN_TRANSIT, 116: S.IN_TRANSIT, 176: S.IN_TRANSIT, 217: S.IN_TRANSIT,
    144: S.IN_TRANSIT, 12: S.OUT_FOR_DELIVERY, 134: S.READY_FOR_PICKUP, 1134: S.READY_FOR_PICKUP,
    -14: S.DELIVERED, 123: S.REFUSED, 111: S.RETURNING, 121: S.RETURNING, 124: S.RETURNED, 112: S.LOST,
    114: S.LOST, 125: S.LOST, 127: S.LOST, 129: S.LOST, 128: S.LOST,
}


@pytest.mark.parametrize("code", V.documented)
def test_every_documented_code_has_a_canonical_status(code):
    assert V.shipment(code).status is not S.UNKNOWN


@pytest.mark.parametrize(("code", "status"), EXPECTED.items())
def test_the_newest_operation_decides(code, status):
    report = one([op(148, 0), op(code, 5)])
    assert report.status is status and report.code == str(code) and report.text == f"op {code}"


def test_predict_and_a_refused_check_change_nothing():
    assert one([op(148, 0), op(12, 1), op(175, 2)]).status is S.OUT_FOR_DELIVERY
    assert one([op(134, 0), op(195, 1)]).status is S.READY_FOR_PICKUP
    assert one([op(134, 0), op(195, 1), op(-14, 2)]).status is S.DELIVERED  # the vendor sample's story


def test_return_to_sender_with_a_refusal_exception_is_refused():
    assert one([op(111, 0, exceptionCodes=["1004"])]).status is S.RETURNING
    assert one([op(111, 0, exceptionCodes=["1006"])]).status is S.REFUSED
    report = one([op(111, 0, exceptionCodes=["12"], returnShipmentId="299999993")])
    assert report.status is S.REFUSED and report.new_ttn == "299999993" and "exceptions 12" in report.text


def test_delivered_back_to_sender_in_the_originals_history_is_returned():
    report = one([op(-14, 0), op(124, 5, returnShipmentId="299999993")])
    assert report.status is S.RETURNED and report.delivered_at is None and report.new_ttn == "299999993"


def test_times_are_utc_operations_oldest_first_and_delivered_at_set():
    report = one([op(-14, 30), op(12, 10), op(148, 0)])
    assert [e.code for e in report.events] == ["148", "12", "-14"]
    assert report.delivered_at == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    assert report.updated_at == report.delivered_at


def test_an_unknown_code_is_kept_raw_as_unknown_and_track_phase_is_a_fallback():
    report = one([op(148, 0), op(9999, 5)])
    assert report.status is S.UNKNOWN and report.code == "9999" and report.events[-1].status is S.UNKNOWN
    assert one([op(148, 0), op(9999, 5)], trackPhase="OUT_FOR_DELIVERY").status is S.OUT_FOR_DELIVERY
    assert one([], trackPhase="IN_TRANSIT").status is S.IN_TRANSIT


def test_a_per_parcel_error_and_a_missing_parcel_are_not_found():
    payload = {"parcels": [{"parcelId": "299999999", "error": {"message": "Parcel not found", "code": 1}}]}
    reports = mapper.reports(payload, ["299999990", "299999999"], V)
    assert reports["299999999"].status is S.NOT_FOUND and reports["299999999"].text == "Parcel not found"
    assert reports["299999990"].status is S.NOT_FOUND  # left out of the answer altogether
    assert one([]).status is S.NOT_FOUND  # known id, no operations yet


def test_parcels_are_matched_by_id_not_position():
    payload = {"parcels": [{"parcelId": "299999991", "operations": [op(-14)]},
                           {"parcelId": "299999990", "operations": [op(148)]}]}
    reports = mapper.reports(payload, ["299999990", "299999991"], V)
    assert reports["299999990"].status is S.CREATED and reports["299999991"].status is S.DELIVERED


def test_a_broken_record_does_not_fail_the_others_and_keeps_its_raw():
    payload = {"parcels": [{"parcelId": "299999990", "operations": [op(148, dateTime="24.02.2022 08:59")]},
                           {"parcelId": "299999991", "operations": [op(-14)]}]}
    reports = mapper.reports(payload, ["299999990", "299999991"], V)
    assert reports["299999990"].status is S.UNKNOWN and "24.02.2022" in reports["299999990"].text
    assert json.loads(reports["299999990"].raw)["parcelId"] == "299999990"
    assert reports["299999991"].status is S.DELIVERED


def test_the_recipients_name_is_not_kept_in_raw():
    report = one([op(-14, consignee="ИВАН ИВАНОВ")])
    assert "ИВАН" not in report.raw and json.loads(report.raw)["operations"][0]["operationCode"] == -14


def test_a_time_without_offset_is_sofia_time():
    report = one([op(148, dateTime="2026-07-01T12:00:00")])
    assert report.updated_at == datetime(2026, 7, 1, 9, tzinfo=UTC)
