"""The Ukrposhta client and adapter against cassettes written from the reference: the wire format is pinned."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.ukrposhta.adapter import build
from adapters.ukrposhta.client import UkrposhtaClient
from connector.domain.lifecycle import ShipmentStatus
from connector.errors import AuthError, PermanentError
from mappings import load
from tests.contract.cassettes import interactions, player

vcr = player("ukrposhta")
TOKEN = "11111111-1111-1111-1111-111111111111"


def root(cassette: str) -> str:
    """The documented API root, read from the cassette: everything before ``statuses/``."""
    uri = interactions("ukrposhta", cassette)[0]["request"]["uri"]
    return uri[: uri.index("statuses/")]


def adapter(cassette: str, token: str = TOKEN):
    return build(CarrierLogin(base_url=root(cassette), api_key=token), load("ukrposhta"),
                 policy=HttpPolicy(backoff_initial=0.01, backoff_max=0.01), sleep=lambda _: None)


def test_a_batch_is_one_post_of_barcodes_with_the_bearer_and_gives_whole_timelines():
    with vcr.use_cassette("track_batch.yaml") as cassette:
        reports = adapter("track_batch").track([Parcel("0500100031143"), Parcel("500100031135")])  # a lost 0
    assert cassette.all_played and len(cassette.requests) == 1
    request = cassette.requests[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.body) == ["0500100031143", "0500100031135"]

    delivered = reports["0500100031143"]
    assert delivered.status is ShipmentStatus.DELIVERED and delivered.code == "41000"
    assert delivered.text == "Delivery (personally)"
    assert [e.code for e in delivered.events] == ["10100", "20700", "20800", "21700", "41000"]  # oldest first
    assert delivered.events[0].occurred_at == datetime(2017, 7, 27, 13, 33, tzinfo=UTC)  # Kyiv summer, UTC+3
    assert delivered.events[0].place == "03505 DKD KYIV"
    assert delivered.delivered_at == datetime(2017, 7, 29, 17, 24, tzinfo=UTC)
    assert delivered.updated_at == delivered.delivered_at
    assert len(json.loads(delivered.raw)) == 5

    returned = reports["500100031135"]  # keyed by the number as given
    assert returned.status is ShipmentStatus.RETURNED and returned.code == "41000"
    assert returned.delivered_at is None  # handed back to the seller is not delivered to the buyer
    assert [e.status for e in returned.events][-2:] == [ShipmentStatus.RETURNING, ShipmentStatus.RETURNED]


def test_an_unknown_barcode_is_not_found_and_the_others_are_answered():
    with vcr.use_cassette("not_found.yaml") as cassette:
        reports = adapter("not_found").track([Parcel("0500000000001"), Parcel("0500100031143")])
    assert cassette.all_played
    assert reports["0500000000001"].status is ShipmentStatus.NOT_FOUND
    assert reports["0500100031143"].status is ShipmentStatus.DELIVERED


def test_a_wrong_token_is_an_auth_error_not_retried():
    with vcr.use_cassette("auth_error.yaml") as cassette, pytest.raises(AuthError) as caught:
        adapter("auth_error", token="00000000-0000-0000-0000-000000000000").track([Parcel("0500100031143")])
    assert len(cassette.requests) == 1
    assert caught.value.status == 401 and "Invalid Credentials" in caught.value.message
    assert "StatusTracking" in caught.value.hint


def test_a_batch_over_the_limit_is_a_permanent_error():
    [item] = interactions("ukrposhta", "batch_limit")
    client = UkrposhtaClient(root("batch_limit"), TOKEN, sleep=lambda _: None)
    with vcr.use_cassette("batch_limit.yaml") as cassette, pytest.raises(PermanentError) as caught:
        client.histories(json.loads(item["request"]["body"]))
    assert len(cassette.requests) == 1 and caught.value.status == 400
    assert not isinstance(caught.value, AuthError)


def test_the_adapter_never_sends_more_than_its_batch():
    ukr = adapter("batch_limit")
    assert ukr.batch_size == 50
    with pytest.raises(ValueError):
        ukr.track([Parcel(f"05001000{i:05d}") for i in range(51)])
