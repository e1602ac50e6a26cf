"""The Nova Poshta client and adapter against cassettes written from the reference: the wire format is pinned."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.novaposhta.adapter import build
from adapters.novaposhta.client import BadNumbers, NovaPoshtaClient
from connector.domain.lifecycle import ShipmentStatus
from connector.errors import AuthError, PermanentError
from mappings import load
from tests.contract.cassettes import interactions, player

vcr = player("novaposhta")
KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def url(cassette: str) -> str:
    """The documented endpoint, read from the cassette (never spelled in a test)."""
    return interactions("novaposhta", cassette)[0]["request"]["uri"]


def adapter(cassette: str, key: str = KEY, sleeps: list[float] | None = None):
    sleep = sleeps.append if sleeps is not None else (lambda _: None)
    return build(CarrierLogin(base_url=url(cassette), api_key=key), load("novaposhta"),
                 policy=HttpPolicy(backoff_initial=0.01, backoff_max=0.01), sleep=sleep)


def test_a_batch_is_one_post_with_the_envelope_and_maps_every_record():
    parcels = [Parcel("20400048799000", "+38 (060) 000-00-00"), Parcel("5900 0777 777 777"),
               Parcel("20450000000000")]
    with vcr.use_cassette("track_batch.yaml") as cassette:
        reports = adapter("track_batch").track(parcels)
    assert cassette.all_played and len(cassette.requests) == 1
    sent = json.loads(cassette.requests[0].body)
    assert sent["apiKey"] == KEY and sent["modelName"] == "TrackingDocument"
    assert sent["calledMethod"] == "getStatusDocuments"
    assert sent["methodProperties"]["Documents"][0] == {"DocumentNumber": "20400048799000", "Phone": "380600000000"}

    assert set(reports) == {"20400048799000", "5900 0777 777 777", "20450000000000"}  # keyed as asked
    received = reports["20400048799000"]
    assert (received.status, received.code, received.text) == (ShipmentStatus.DELIVERED, "9", "Відправлення отримано")
    assert received.delivered_at == datetime(2022, 3, 8, 13, 16, 47, tzinfo=UTC)  # RecipientDateTime, Kyiv UTC+2
    assert received.updated_at == datetime(2022, 3, 8, 13, 16, 53, tzinfo=UTC)
    assert received.storage_until is None and received.new_ttn == ""
    assert json.loads(received.raw)["RecipientFullName"] == "Петренко Олена"
    [event] = received.events
    assert event.code == "9" and event.occurred_at == datetime(2022, 3, 8, 13, 16, tzinfo=UTC)  # DateScan

    waiting = reports["5900 0777 777 777"]
    assert waiting.status is ShipmentStatus.READY_FOR_PICKUP and waiting.code == "7"
    assert waiting.storage_until == datetime(2022, 3, 11, 8, 5, 51, tzinfo=UTC)  # DatePayedKeeping
    assert waiting.delivered_at is None and "Базова" in waiting.events[0].place

    redirected = reports["20450000000000"]
    assert redirected.status is ShipmentStatus.IN_TRANSIT and redirected.new_ttn == "20450000000017"


def test_an_unknown_number_is_not_found_not_an_error():
    with vcr.use_cassette("not_found.yaml") as cassette:
        reports = adapter("not_found").track([Parcel("20400000000001")])
    assert cassette.all_played
    report = reports["20400000000001"]
    assert report.status is ShipmentStatus.NOT_FOUND and report.code == "3" and report.text == "Номер не знайдено"
    assert json.loads(report.raw)["StatusCode"] == "3"


def test_a_key_nova_poshta_refuses_is_an_auth_error_with_its_code_and_a_hint():
    with vcr.use_cassette("auth_error.yaml") as cassette, pytest.raises(AuthError) as caught:
        adapter("auth_error", key="f" * 32).track([Parcel("20400048799000")])
    assert len(cassette.requests) == 1  # never retried
    assert caught.value.code == "20000200068" and "API auth fail" in caught.value.message
    assert "api_key" in caught.value.hint


def test_more_than_100_documents_is_refused_by_nova_poshta_with_20001401153():
    [item] = interactions("novaposhta", "batch_limit")
    props = json.loads(item["request"]["body"])["methodProperties"]
    client = NovaPoshtaClient(url("batch_limit"), KEY, sleep=lambda _: None)
    with vcr.use_cassette("batch_limit.yaml") as cassette, pytest.raises(PermanentError) as caught:
        client.call("TrackingDocument", "getStatusDocuments", props)
    assert len(cassette.requests) == 1 and caught.value.code == "20001401153"
    assert not isinstance(caught.value, AuthError)


def test_the_adapter_never_sends_more_than_100():
    with pytest.raises(ValueError):
        adapter("batch_limit").track([Parcel(f"204000000{i:05d}") for i in range(101)])


def test_too_many_requests_backs_off_and_retries():
    sleeps: list[float] = []
    with vcr.use_cassette("rate_limit.yaml") as cassette:
        reports = adapter("rate_limit", sleeps=sleeps).track([Parcel("20400000000001")])
    assert cassette.all_played and len(cassette.requests) == 2
    assert len(sleeps) == 1
    assert reports["20400000000001"].status is ShipmentStatus.NOT_FOUND


def test_a_malformed_number_in_the_fixture_answer_is_named():
    client = NovaPoshtaClient(url("bad_number"), KEY, sleep=lambda _: None)
    with vcr.use_cassette("bad_number.yaml"), pytest.raises(BadNumbers) as caught:
        client.status_documents([("445", "")])
    assert caught.value.numbers == ("445",) and caught.value.code == "20001401442"


def test_errors_are_classified_by_code_and_a_codeless_rate_limit_by_its_words():
    import httpx

    answers = [{"success": False, "errors": ["To many requests"], "errorCodes": []},
               [{"success": True, "data": [], "errors": [], "warnings": [{"ID_1": "w"}, "plain"], "info": {}}]]
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answers.pop(0))

    client = NovaPoshtaClient("https://np.test/v2.0/json/", KEY, transport=httpx.MockTransport(handler),
                              policy=HttpPolicy(backoff_initial=0.001, backoff_max=0.001), sleep=lambda _: None)
    answer = client.status_documents([("20400048799000", "")])  # a list at the top level is unwrapped
    assert len(seen) == 2  # the codeless "To many requests" was retried
    assert str(seen[0].url) == "https://np.test/v2.0/json/"
    assert answer.warnings == [("1", "w"), ("", "plain")]  # warnings as objects keyed by document, or strings
