"""Nova Poshta records → ParcelReports: every documented code, the four date formats, storage, re-issued numbers,
unknown codes and broken records. Pure: no network."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.novaposhta import mapper
from connector.domain.lifecycle import ShipmentStatus
from mappings import load

NP = load("novaposhta")


def record(code: str = "7", **fields) -> dict:
    return {"Number": "20400048799000", "StatusCode": code, "Status": "Прибув на відділення",
            "DateCreated": "26-02-2022 11:08:03", "TrackingUpdateDate": "2022-03-08 15:16:53",
            "DateScan": "15:16 08.03.2022", "ActualDeliveryDate": "2022-03-08 14:29:04", "RecipientDateTime": "",
            "DateFirstDayStorage": "2022-03-16", "DatePayedKeeping": "2022-03-16 14:29:04",
            "CityRecipient": "Львів", "WarehouseRecipient": "Відділення №1", "LastCreatedOnTheBasisNumber": "",
            "DocumentWeight": 2.99, "FactualWeight": "2.00", "Redelivery": 0, **fields}


@pytest.mark.parametrize("code", NP.documented)
def test_every_documented_code_maps_to_its_rule_and_keeps_nps_code_and_words(code):
    report = mapper.report(record(code, Status=f"words for {code}"), NP)
    assert report.status is NP.shipment(code).status
    assert report.status is not ShipmentStatus.UNKNOWN
    assert report.code == code
    assert report.text == f"words for {code}"
    assert [e.code for e in report.events] == [code]  # NP gives the current state only: one event


def test_the_documented_buckets_that_matter_most():
    expected = {"1": "created", "2": "deleted", "3": "not_found", "7": "ready_for_pickup", "8": "ready_for_pickup",
                "9": "delivered", "11": "delivered", "102": "returning", "103": "refused", "105": "returning",
                "111": "exception"}
    assert {c: str(mapper.report(record(c), NP).status) for c in expected} == expected


@pytest.mark.parametrize(("text", "utc"), [
    ("26-02-2022 11:08:03", datetime(2022, 2, 26, 9, 8, 3, tzinfo=UTC)),  # DD-MM-YYYY, winter: UTC+2
    ("08.07.2022 15:16:47", datetime(2022, 7, 8, 12, 16, 47, tzinfo=UTC)),  # DD.MM.YYYY, summer: UTC+3
    ("2022-03-08 14:29:04", datetime(2022, 3, 8, 12, 29, 4, tzinfo=UTC)),  # YYYY-MM-DD
    ("15:16 08.03.2022", datetime(2022, 3, 8, 13, 16, tzinfo=UTC)),  # HH:MM DD.MM.YYYY
    ("2022-03-16", datetime(2022, 3, 15, 22, 0, tzinfo=UTC)),  # a day: midnight in Kyiv
])
def test_the_four_date_formats_are_kyiv_time_turned_utc(text, utc):
    assert mapper.parse_time(text, "f") == utc


@pytest.mark.parametrize("empty", ["", None, "0001-01-01 00:00:00", "  "])
def test_empty_dates_and_the_no_scan_placeholder_are_none(empty):
    assert mapper.parse_time(empty, "f") is None


def test_updated_at_and_the_event_time_come_from_the_tracking_update_and_the_scan():
    report = mapper.report(record("5", DateScan="0001-01-01 00:00:00"), NP)
    assert report.updated_at == datetime(2022, 3, 8, 13, 16, 53, tzinfo=UTC)
    assert report.events[0].occurred_at == report.updated_at  # no scan yet: the update time stands in


def test_free_storage_ends_when_paid_keeping_starts():
    report = mapper.report(record("7"), NP)
    assert report.storage_until == datetime(2022, 3, 16, 12, 29, 4, tzinfo=UTC)
    day_only = mapper.report(record("8", DatePayedKeeping=""), NP)
    assert day_only.storage_until == datetime(2022, 3, 15, 22, 0, tzinfo=UTC)  # the first storage day, 00:00 Kyiv
    assert mapper.report(record("9"), NP).storage_until is None  # not waiting at a pickup point any more


def test_delivered_at_is_the_buyers_pickup_else_the_arrival():
    with_pickup = mapper.report(record("9", RecipientDateTime="08.03.2022 15:16:47"), NP)
    assert with_pickup.delivered_at == datetime(2022, 3, 8, 13, 16, 47, tzinfo=UTC)
    without = mapper.report(record("10"), NP)
    assert without.delivered_at == datetime(2022, 3, 8, 12, 29, 4, tzinfo=UTC)  # ActualDeliveryDate
    assert mapper.report(record("7"), NP).delivered_at is None  # arrived at the branch is not received


@pytest.mark.parametrize(("value", "new"), [("20450000000017", "20450000000017"), ("2045 0000 0000 17", "20450000000017"),
                                            ("1234-5678", ""), ("", ""), ("20400048799000", "")])
def test_new_ttn_is_the_re_issued_waybill_and_never_a_money_document(value, new):
    assert mapper.report(record("104", LastCreatedOnTheBasisNumber=value), NP).new_ttn == new


def test_an_unknown_code_is_kept_raw_as_unknown():
    report = mapper.report(record("999", Status="Щось нове"), NP)
    assert report.status is ShipmentStatus.UNKNOWN
    assert (report.code, report.text) == ("999", "Щось нове")
    assert json.loads(report.raw)["StatusCode"] == "999"


def test_loose_typing_a_numeric_status_code_reads_the_same():
    assert mapper.report(record(9), NP).code == "9"
    assert mapper.report(record(9), NP).status is ShipmentStatus.DELIVERED


def test_the_code_80_stub_is_told_by_its_shape_and_is_not_found():
    stub = {"Number": "59500007067740", "StatusCode": "80", "Status": "", "PossibilityEUReturn": False,
            "FinalEUReturnDate": "", "EUReturnNumber": "", "ParentBranchCity": "", "ParentBranchName": "",
            "Edit": False}
    report = mapper.report(stub, NP)
    assert report.status is ShipmentStatus.NOT_FOUND and report.code == "80" and "stub" in report.text
    assert mapper.is_stub(stub) and not mapper.is_stub(record("80"))


def test_a_broken_record_for_one_number_does_not_fail_the_others():
    asked = {"20400048799000": ["20400048799000"], "59000777777777": ["59000777777777"],
             "20450000000000": ["20450000000000"]}
    data = [record("9", Number="59000777777777"), record("7", DateScan="вчора"), "not a record"]
    reports = mapper.match(data, asked, NP)
    assert set(reports) == set(asked)
    assert reports["59000777777777"].status is ShipmentStatus.DELIVERED  # matched by Number, not position
    broken = reports["20400048799000"]
    assert broken.status is ShipmentStatus.UNKNOWN and "DateScan" in broken.text and broken.code == "7"
    assert json.loads(broken.raw)["DateScan"] == "вчора"  # kept for a person
    assert reports["20450000000000"].status is ShipmentStatus.NOT_FOUND  # absent from the answer


def test_reports_are_keyed_by_the_number_as_given():
    reports = mapper.match([record("9")], {"20400048799000": ["2040 0048 799000", "20400048799000"]}, NP)
    assert set(reports) == {"2040 0048 799000", "20400048799000"}
    assert {r.ttn for r in reports.values()} == {"2040 0048 799000", "20400048799000"}
