"""The Econt sandbox speaks the cassettes' wire format: each cassette's request, sent to the sandbox set up for the
cassette's story, gets an answer of the same HTTP status and shape, the same errors word for word, and the same parcel
states (short status, events by destinationType, delivery, return)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.econt.sandbox import EcontSandbox
from tests.contract.cassettes import interactions, names, same_shape, shape

# Cassette → parcels (number, route, steps taken) and faults the story needs.
SETUP: dict[str, dict[str, Any]] = {
    "statuses": {"parcels": [("1055215517881", "office", 4), ("1055241178079", "door", 5),
                             ("1050000000003", "refused", 7)]},
    "unknown_number": {"parcels": [("1055215517881", "office", 2)]},
    "auth_refused": {"parcels": [("1055215517881", "office", 2)]},
    "server_error": {"parcels": [("1055215517881", "office", 2)], "faults": [("server_error", {"status": 503})]},
}


def _sandbox(name: str) -> EcontSandbox:
    sandbox = EcontSandbox(seed=3, clock=lambda: datetime(2026, 1, 5, 10, tzinfo=UTC))
    sandbox.add_login("econt-user", "econt-pass")
    for number, route, steps in SETUP[name]["parcels"]:
        sandbox.add_parcel(number, route=route, steps=steps)
    for kind, options in SETUP[name].get("faults", []):
        sandbox.faults.next(kind, **options)
    return sandbox


def _summary(body: Any) -> Any:
    if not isinstance(body, dict) or "shipmentStatuses" not in body:
        return body  # an Error object: compared word for word
    out = []
    for element in body["shipmentStatuses"]:
        status = element["status"]
        if status is None:
            out.append(("error", element["error"]))
            continue
        out.append((status["shipmentNumber"], status["shortDeliveryStatusEn"], status["shortDeliveryStatus"],
                    status["receiverDeliveryType"], status["deliveryTime"] is None,
                    status["lastProcessedInstruction"], len(status["nextShipments"]),
                    [e["destinationType"] for e in status["trackingEvents"]]))
    return out


@pytest.mark.parametrize("name", names("econt"))
def test_the_sandbox_answers_each_cassette_request_as_the_cassette_does(name: str) -> None:
    assert name in SETUP, f"cassette {name!r} has no sandbox setup: add one to SETUP"
    with _sandbox(name) as sandbox, httpx.Client() as http:
        for n, item in enumerate(interactions("econt", name)):
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
        assert len(sandbox.requests) == len(interactions("econt", name))


def test_every_setup_names_a_cassette() -> None:
    assert set(SETUP) <= set(names("econt"))


def test_seeded_parcels_have_the_documented_shape() -> None:
    [documented] = [e["status"] for e in json.loads(
        interactions("econt", "statuses")[0]["response"]["body"]["string"])["shipmentStatuses"][:1]]
    sandbox = EcontSandbox(seed=7, parcels=20)
    for number in sandbox.numbers():
        assert same_shape(shape(documented), shape(sandbox.record(number))) == [], number
