"""Ukrposhta histories → ParcelReports: every documented event, the return split, times, broken histories."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.ukrposhta import mapper
from connector.domain.lifecycle import ShipmentStatus
from mappings import load

UP = load("ukrposhta")


def ev(event, date="2017-07-29T20:24:00", reason_id=1, **fields) -> dict:
    return {"barcode": "0500100031143", "step": 1, "date": date, "index": "65501", "name": "DKD ODESSA",
            "event": event, "eventName": f"name {event}", "country": "Ukraine", "eventReason": None,
            "eventReason_id": reason_id, "mailType": 1048576, "indexOrder": 1, **fields}


@pytest.mark.parametrize("code", UP.documented)
def test_every_documented_event_maps_and_keeps_ukrposhtas_code_and_words(code):
    report = mapper.report("0500100031143", [ev(int(code))], UP)
    assert report.status is UP.shipment(code).status is not ShipmentStatus.UNKNOWN
    assert (report.code, report.text) == (code, f"name {code}")


def test_41000_with_reason_10_is_returned_to_the_sender():
    report = mapper.report("b", [ev(31200, "2017-08-28T09:00:00"), ev(41000, "2017-09-02T11:15:00", 10)], UP)
    assert report.status is ShipmentStatus.RETURNED and report.code == "41000" and report.delivered_at is None
    delivered = mapper.report("b", [ev(41000, reason_id=2, eventReason="personally")], UP)
    assert delivered.status is ShipmentStatus.DELIVERED and delivered.text == "name 41000 (personally)"
    assert delivered.delivered_at == datetime(2017, 7, 29, 17, 24, tzinfo=UTC)


def test_events_are_oldest_first_whatever_order_they_arrive_in():
    history = [ev(41000, "2017-07-29T20:24:00"), ev(10100, "2017-07-27T16:33:00"), ev(20700, "2017-07-27T16:51:57")]
    report = mapper.report("b", history, UP)
    assert [e.code for e in report.events] == ["10100", "20700", "41000"]
    assert report.code == "41000" and report.updated_at == datetime(2017, 7, 29, 17, 24, tzinfo=UTC)


@pytest.mark.parametrize(("text", "utc"), [
    ("2017-07-29T20:24:00", datetime(2017, 7, 29, 17, 24, tzinfo=UTC)),  # Kyiv summer time
    ("2017-01-29T20:24:00", datetime(2017, 1, 29, 18, 24, tzinfo=UTC)),  # Kyiv winter time
    ("2017-07-29 20:24:00", datetime(2017, 7, 29, 17, 24, tzinfo=UTC)),
    ("2017-07-29T20:24:00.123", datetime(2017, 7, 29, 17, 24, 0, 123000, tzinfo=UTC)),
    ("2017-07-29T20:24:00+02:00", datetime(2017, 7, 29, 18, 24, tzinfo=UTC)),  # an explicit offset wins
])
def test_times_are_kyiv_wall_clock_turned_utc(text, utc):
    assert mapper.parse_time(text) == utc


def test_an_event_code_as_a_string_reads_the_same():
    assert mapper.report("b", [ev("41000", reason_id="10")], UP).status is ShipmentStatus.RETURNED


def test_an_unknown_event_is_kept_raw_as_unknown():
    report = mapper.report("b", [ev(10100, "2017-07-27T16:33:00"), ev(99999, eventName="Нова подія")], UP)
    assert report.status is ShipmentStatus.UNKNOWN and (report.code, report.text) == ("99999", "Нова подія")
    assert json.loads(report.raw)[1]["event"] == 99999


@pytest.mark.parametrize(("history", "problem"), [
    ({"event": 41000}, "list"), ([ev(41000, date="вчора")], "date"), ([ev(None)], "no event code"), (["x"], "object"),
])
def test_a_broken_history_is_unknown_with_the_problem_and_the_raw_kept(history, problem):
    report = mapper.report("b", history, UP)
    assert report.status is ShipmentStatus.UNKNOWN and problem in report.text and report.raw


def test_found_with_no_events_is_not_found_yet():
    assert mapper.report("b", [], UP).status is ShipmentStatus.NOT_FOUND
