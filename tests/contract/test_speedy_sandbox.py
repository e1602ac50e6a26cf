"""The Speedy sandbox speaks the cassettes' wire format: each cassette's request, sent to the sandbox set up for the
cassette's story, gets an answer of the same HTTP status and shape, the same error codes and words, and the same
operations per parcel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.speedy.sandbox import SpeedySandbox
from tests.contract.cassettes import interactions, names, same_shape, shape

SETUP: dict[str, dict[str, Any]] = {
    "track": {"parcels": [("299999990", "office", 5), ("299999991", "door", 7), ("299999992", "refused", 8)]},
    "unknown_number": {"parcels": [("299999990", "office", 2)]},
    "auth_refused": {"parcels": [("299999990", "office", 2)]},
    "batch_limit": {"parcels": []},
    "server_error": {"parcels": [("299999990", "office", 2)], "faults": [("server_error", {"status": 503})]},
}


def _sandbox(name: str) -> SpeedySandbox:
    sandbox = SpeedySandbox(seed=3, clock=lambda: datetime(2026, 1, 5, 10, tzinfo=UTC))
    sandbox.add_login("speedy-user", "speedy-pass")
    for parcel_id, route, steps in SETUP[name]["parcels"]:
        sandbox.add_parcel(parcel_id, route=route, steps=steps)
    for kind, options in SETUP[name].get("faults", []):
        sandbox.faults.next(kind, **options)
    return sandbox


def _error(error: Any) -> Any:
    """An Error without its ``id`` (unique per error by design)."""
    return {k: v for k, v in error.items() if k != "id"} if isinstance(error, dict) else error


def _summary(body: dict[str, Any]) -> Any:
    if "error" in body:
        return ("error", _error(body["error"]))
    return [(p["parcelId"], _error(p.get("error")),
             [(o["operationCode"], o.get("exceptionCodes"), "returnShipmentId" in o) for o in p.get("operations", [])])
            for p in body["parcels"]]


@pytest.mark.parametrize("name", names("speedy"))
def test_the_sandbox_answers_each_cassette_request_as_the_cassette_does(name: str) -> None:
    assert name in SETUP, f"cassette {name!r} has no sandbox setup: add one to SETUP"
    with _sandbox(name) as sandbox, httpx.Client() as http:
        for n, item in enumerate(interactions("speedy", name)):
            request, response = item["request"], item["response"]
            where = f"{name} #{n}"
            answer = http.request(request["method"], sandbox.url + urlsplit(request["uri"]).path,
                                  headers={k: v[0] for k, v in request["headers"].items()},
                                  content=request["body"].encode())
            assert answer.status_code == response["status"]["code"], where
            if not response["headers"]["Content-Type"][0].startswith("application/json"):
                assert not answer.headers["content-type"].startswith("application/json"), where
                continue
            expected, actual = json.loads(response["body"]["string"]), answer.json()
            assert same_shape(shape(expected), shape(actual)) == [], where
            assert _summary(actual) == _summary(expected), where
        assert len(sandbox.requests) == len(interactions("speedy", name))


def test_every_setup_names_a_cassette() -> None:
    assert set(SETUP) <= set(names("speedy"))


def test_operations_have_the_documented_shape_and_time_format() -> None:
    documented = json.loads(interactions("speedy", "track")[0]["response"]["body"]["string"])["parcels"]
    keys = {k for p in documented for o in p["operations"] for k in o}
    sandbox = SpeedySandbox(seed=7, parcels=30)
    for parcel_id in sandbox.parcel_ids():
        for op in sandbox.operations(parcel_id):
            assert set(op) <= keys, (parcel_id, set(op) - keys)
            assert datetime.strptime(op["dateTime"], "%Y-%m-%dT%H:%M:%S%z")
