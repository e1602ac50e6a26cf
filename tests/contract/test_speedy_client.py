"""The Speedy adapter against cassettes written from the reference: the wire format is pinned (host read from them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.speedy.adapter import build
from adapters.speedy.client import SpeedyClient
from connector.domain import ShipmentStatus as S
from connector.errors import AuthError, PermanentError, TransientError
from mappings import load
from tests.contract.cassettes import interactions, player

vcr = player("speedy")


def base(cassette: str) -> str:
    """The documented base URL, read from the cassette: everything before /track."""
    return interactions("speedy", cassette)[0]["request"]["uri"].rsplit("/track", 1)[0]


def adapter(cassette: str, password: str = "speedy-pass", **policy):
    login = CarrierLogin(base_url=base(cassette), username="speedy-user", password=password)
    return build(login, load("speedy"), policy=HttpPolicy(**policy), sleep=lambda _: None)


def test_a_batch_is_one_post_with_the_login_in_the_body_and_each_parcel_gets_its_report():
    ids = ["299999990", "299999991", "299999992"]
    with vcr.use_cassette("track.yaml") as cassette:
        reports = adapter("track").track([Parcel(i) for i in ids])
    assert cassette.all_played and cassette.play_count == 1
    sent = cassette.requests[0]
    assert sent.method == "POST" and sent.path.endswith("/track") and "Authorization" not in sent.headers
    body = json.loads(sent.body)
    assert body["userName"] == "speedy-user" and body["password"] == "speedy-pass"
    assert body["parcels"] == [{"id": i} for i in ids] and body["language"] == "EN"
    assert list(reports) == ids

    office = reports["299999990"]
    assert office.status is S.READY_FOR_PICKUP and office.code == "134"
    assert office.updated_at == datetime(2026, 1, 6, 6, 24, 49, tzinfo=UTC)  # +0200 → UTC
    assert office.events[0].code == "148" and office.events[0].status is S.CREATED
    assert "SREBARNA" in office.text and office.events[-1].place == "GR. SOFIA"

    door = reports["299999991"]
    assert door.status is S.DELIVERED and door.delivered_at == datetime(2026, 1, 6, 8, 25, tzinfo=UTC)
    assert "ТЕСТОВ" not in door.raw  # the recipient's name is personal data: not stored

    back = reports["299999992"]
    assert back.status is S.RETURNED and back.code == "124" and back.new_ttn == "299999993"
    assert [e.code for e in back.events][-3:] == ["123", "111", "124"]


def test_an_unknown_number_is_not_found_with_speedys_words_and_the_others_still_map():
    with vcr.use_cassette("unknown_number.yaml") as cassette:
        reports = adapter("unknown_number").track([Parcel("299999990"), Parcel("299999999")])
    assert cassette.all_played
    assert reports["299999990"].status is S.IN_TRANSIT
    missing = reports["299999999"]
    assert missing.status is S.NOT_FOUND and missing.text == "Parcel not found" and missing.code == "1"


def test_a_refused_login_is_an_auth_error_with_a_hint():
    with vcr.use_cassette("auth_refused.yaml"), pytest.raises(AuthError) as caught:
        adapter("auth_refused", password="wrong-pass").track([Parcel("299999990")])
    assert caught.value.code == 1 and "Invalid username or password" in caught.value.message
    assert "password" in caught.value.hint


def test_more_than_ten_parcels_is_refused_by_speedy_and_never_sent_by_the_adapter():
    eleven = [str(299999980 + i) for i in range(11)]
    client = SpeedyClient(base("batch_limit"), username="speedy-user", password="speedy-pass",
                          sleep=lambda _: None)
    with vcr.use_cassette("batch_limit.yaml"), pytest.raises(PermanentError) as caught:
        client.track(eleven)
    assert not isinstance(caught.value, AuthError)
    assert "Allowed are up to 10 parcels" in caught.value.message and "10 parcels" in caught.value.hint
    with vcr.use_cassette("batch_limit.yaml") as cassette, pytest.raises(ValueError):
        adapter("batch_limit").track([Parcel(i) for i in eleven])
    assert cassette.play_count == 0


def test_a_server_error_is_retried_and_the_retry_answers():
    with vcr.use_cassette("server_error.yaml") as cassette:
        reports = adapter("server_error", backoff_initial=0.001).track([Parcel("299999990")])
    assert cassette.all_played and reports["299999990"].status is S.IN_TRANSIT


def test_a_server_error_without_retries_left_is_transient():
    with vcr.use_cassette("server_error.yaml"), pytest.raises(TransientError) as caught:
        adapter("server_error", attempts=1).track([Parcel("299999990")])
    assert caught.value.status == 503
