"""The Ukrposhta sandbox speaks the cassettes' wire format: each cassette's request, sent to the sandbox, gets an
answer of the same HTTP status, body shape, error fields, found/notFound barcodes and latest events."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.ukrposhta.sandbox import UkrposhtaSandbox
from tests.contract.cassettes import interactions, names, same_shape, shape

TOKEN = "11111111-1111-1111-1111-111111111111"

# Cassette → the parcels the story needs: (barcode, latest event, path).
SETUP: dict[str, dict[str, Any]] = {
    "track_batch": {"parcels": [("0500100031143", 41000, "branch"), ("0500100031135", 41000, "returned")]},
    "not_found": {"parcels": [("0500100031143", 41000, "branch")]},
    "auth_error": {"parcels": [("0500100031143", 41000, "branch")]},
    "batch_limit": {},
}


def _summary(body: Any) -> Any:
    """The barcodes found, each with its latest (event, eventReason_id), and the barcodes not found."""
    if not isinstance(body, dict) or "found" not in body:
        return None
    return ({b: (events[-1]["event"], events[-1]["eventReason_id"]) for b, events in body["found"].items()},
            body["notFound"])


@pytest.mark.parametrize("name", names("ukrposhta"))
def test_the_sandbox_answers_each_cassette_request_as_the_cassette_does(name: str) -> None:
    assert name in SETUP, f"cassette {name!r} has no sandbox setup: add one to SETUP"
    with UkrposhtaSandbox(seed=2, tokens=(TOKEN,)) as sandbox, httpx.Client() as http:
        for barcode, code, path in SETUP[name].get("parcels", []):
            sandbox.add_parcel(barcode, code=code, path=path)
        for item in interactions("ukrposhta", name):
            request, response = item["request"], item["response"]
            answer = http.post(sandbox.url + urlsplit(request["uri"]).path, content=request["body"].encode(),
                               headers={k: v[0] for k, v in request["headers"].items()})
            expected, actual = json.loads(response["body"]["string"]), answer.json()
            assert answer.status_code == response["status"]["code"], name
            assert same_shape(shape(expected), shape(actual)) == [], name
            assert _summary(actual) == _summary(expected), name
            if answer.status_code >= 400:
                assert actual == expected, name  # error bodies exactly
        assert len(sandbox.requests) == len(interactions("ukrposhta", name))


def test_every_setup_names_a_cassette() -> None:
    assert set(SETUP) <= set(names("ukrposhta"))


def test_seeded_histories_have_the_documented_event_shape() -> None:
    [item] = interactions("ukrposhta", "track_batch")
    documented = shape(next(iter(json.loads(item["response"]["body"]["string"])["found"].values())))
    sandbox = UkrposhtaSandbox(seed=9, parcels=30)
    for barcode in sandbox.numbers():
        for _ in range(10):
            assert same_shape(documented, shape(sandbox.history(barcode))) == [], barcode
            sandbox.move(barcode)
