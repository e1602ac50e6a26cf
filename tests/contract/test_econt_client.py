"""The Econt adapter against cassettes written from the reference: the wire format is pinned (host read from them)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.econt.adapter import build
from connector.domain import ShipmentStatus as S
from connector.errors import AuthError, TransientError
from mappings import load
from tests.contract.cassettes import interactions, player

vcr = player("econt")


def base(cassette: str) -> str:
    """The documented base URL, read from the cassette: everything before the service's own path."""
    return interactions("econt", cassette)[0]["request"]["uri"].split("/Shipments/", 1)[0]


def adapter(cassette: str, password: str = "econt-pass", **policy):
    login = CarrierLogin(base_url=base(cassette), username="econt-user", password=password)
    return build(login, load("econt"), policy=HttpPolicy(**policy), sleep=lambda _: None)


def test_a_batch_is_one_basic_auth_post_and_each_number_gets_its_report():
    numbers = ["1055215517881", "1055241178079", "1050000000003"]
    with vcr.use_cassette("statuses.yaml") as cassette:
        reports = adapter("statuses").track([Parcel(n) for n in numbers])
    assert cassette.all_played and cassette.play_count == 1
    sent = cassette.requests[0]
    assert sent.method == "POST" and sent.path.endswith("/Shipments/ShipmentService.getShipmentStatuses.json")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"econt-user:econt-pass").decode()
    assert json.loads(sent.body) == {"shipmentNumbers": numbers}
    assert list(reports) == numbers

    office = reports["1055215517881"]
    assert office.status is S.READY_FOR_PICKUP and office.code == "Arrived in office"
    assert [e.code for e in office.events] == ["office", "courier_direction", "arrival_departure_from_hub",
                                               "in_delivery_office"]
    assert office.events[-1].status is S.READY_FOR_PICKUP and "Sofia - Lozenets" in office.events[-1].place
    assert office.updated_at == datetime(2026, 1, 6, 6, 0, tzinfo=UTC)  # epoch ms → UTC
    assert office.delivered_at is None and json.loads(office.raw)["status"]["shipmentNumber"] == "1055215517881"

    door = reports["1055241178079"]
    assert door.status is S.DELIVERED and door.delivered_at == datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
    assert door.events[-2].status is S.OUT_FOR_DELIVERY

    back = reports["1050000000003"]
    assert back.status is S.RETURNED and back.new_ttn == "1050000000004" and back.delivered_at is None
    assert back.text == "Returned to sender / Върната и доставена към подател"


def test_an_unknown_number_is_not_found_with_econts_words_and_the_others_still_map():
    with vcr.use_cassette("unknown_number.yaml") as cassette:
        reports = adapter("unknown_number").track([Parcel("1055215517881"), Parcel("1059999999999")])
    assert cassette.all_played
    assert reports["1055215517881"].status is S.IN_TRANSIT
    missing = reports["1059999999999"]
    assert missing.status is S.NOT_FOUND and missing.text == "Пратката не е намерена"
    assert missing.code == "ExShipmentNotFound" and missing.raw


def test_a_refused_login_is_an_auth_error_with_a_hint():
    with vcr.use_cassette("auth_refused.yaml"), pytest.raises(AuthError) as caught:
        adapter("auth_refused", password="wrong-pass").track([Parcel("1055215517881")])
    assert caught.value.code == "ExInvalidParam" and caught.value.status == 401
    assert "Невалидно потребителско име или парола" in caught.value.message and "password" in caught.value.hint


def test_a_server_error_is_retried_and_the_retry_answers():
    with vcr.use_cassette("server_error.yaml") as cassette:
        reports = adapter("server_error", backoff_initial=0.001).track([Parcel("1055215517881")])
    assert cassette.all_played and cassette.play_count == 2
    assert reports["1055215517881"].status is S.IN_TRANSIT


def test_a_server_error_without_retries_left_is_transient():
    with vcr.use_cassette("server_error.yaml"), pytest.raises(TransientError) as caught:
        adapter("server_error", attempts=1).track([Parcel("1055215517881")])
    assert caught.value.status == 503
