"""The Nova Poshta sandbox speaks the cassettes' wire format: each cassette's request, sent to the sandbox, gets an
answer of the same HTTP status, envelope keys, error texts and codes, record shape, and (number, status) pairs.

The sandbox makes its own dates, cities and names, so records are compared by shape and by number and code.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.novaposhta.sandbox import NovaPoshtaSandbox
from tests.contract.cassettes import interactions, names, same_shape, shape

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # the key every cassette's accepted request carries

# Cassette → what the sandbox needs for the cassette's story: parcels (number, phone, code) and faults.
SETUP: dict[str, dict[str, Any]] = {
    "track_batch": {"parcels": [("20400048799000", "380600000000", 9), ("59000777777777", "", 7),
                                ("20450000000000", "", 104)]},
    "not_found": {},
    "auth_error": {"parcels": [("20400048799000", "", 9)]},
    "batch_limit": {},
    "rate_limit": {"faults": [("rate_limit", {})]},
    "bad_number": {},
}


def _sandbox(name: str) -> NovaPoshtaSandbox:
    sandbox = NovaPoshtaSandbox(seed=3, api_keys=(KEY,))
    for number, phone, code in SETUP[name].get("parcels", []):
        sandbox.add_parcel(number, phone=phone, code=code)
    for kind, options in SETUP[name].get("faults", []):
        sandbox.faults.next(kind, **options)
    return sandbox


def _pairs(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r.get("Number"), r.get("StatusCode")) for r in body.get("data") or []]


@pytest.mark.parametrize("name", names("novaposhta"))
def test_the_sandbox_answers_each_cassette_request_as_the_cassette_does(name: str) -> None:
    assert name in SETUP, f"cassette {name!r} has no sandbox setup: add one to SETUP"
    with _sandbox(name) as sandbox, httpx.Client() as http:
        for n, item in enumerate(interactions("novaposhta", name)):
            request, response = item["request"], item["response"]
            path = urlsplit(request["uri"]).path
            answer = http.post(sandbox.url + path, content=request["body"].encode(),
                               headers={"Content-Type": "application/json"})
            where = f"{name} #{n}"
            expected, actual = json.loads(response["body"]["string"]), answer.json()
            assert answer.status_code == response["status"]["code"], where
            assert set(actual) == set(expected), where  # the envelope's keys
            assert actual["success"] == expected["success"], where
            assert actual["errors"] == expected["errors"], where  # NP's words, exactly
            assert actual["errorCodes"] == expected["errorCodes"], where
            assert same_shape(shape(expected), shape(actual)) == [], where
            assert _pairs(actual) == _pairs(expected), where
        assert len(sandbox.requests) == len(interactions("novaposhta", name))


def test_every_setup_names_a_cassette() -> None:
    assert set(SETUP) <= set(names("novaposhta"))


def test_seeded_records_have_the_cassettes_record_shape() -> None:
    """Every parcel the generator makes, on every path and step, has the documented record's keys and types."""
    [item] = interactions("novaposhta", "track_batch")
    documented = shape(json.loads(item["response"]["body"]["string"])["data"])[0]
    sandbox = NovaPoshtaSandbox(seed=11, parcels=40)
    for number in sandbox.numbers():
        for _ in range(10):
            assert same_shape(documented, shape(sandbox.record(number))) == [], number
            sandbox.move(number)
