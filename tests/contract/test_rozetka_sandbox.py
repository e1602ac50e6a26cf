"""The Rozetka sandbox speaks the cassettes' wire format: each cassette's requests, sent to the sandbox, get answers
of the same status, envelope, error and shape, about the same orders.

Timestamps the sandbox makes itself (``changed`` after a PUT, a message's ``created``) differ from the cassettes'
by nature, so bodies are compared by shape, and orders by id, status and TTN.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.rozetka.sandbox import RozetkaSandbox
from tests.contract.cassettes import interactions, names, same_shape, shape

TOKEN = "fHJHJWegsad4fr8798fwe45GDGBfhgawrf33"  # the token every cassette's login returns

# Cassette → what the sandbox needs for the cassette's story to happen. Keys: page_size; password (the seller's
# real password, when the cassette's is wrong); api_token (token, roles); orders_from (the cassettes whose answers
# hold the orders read, default the cassette itself); faults [(kind, options)].
SETUP: dict[str, dict[str, Any]] = {
    "access_denied": {"api_token": ("static-api-token", ("default_content",))},
    "login": {},
    "login_refused": {"password": "not the password sent"},
    "message_buyer": {"orders_from": ("order_ship",)},
    "order_ship": {},
    "order_transition_refused": {"orders_from": ("orders_search",)},
    "orders_search": {},
    "orders_search_two_pages": {"page_size": 1},
    "token_expired": {"faults": [("expire_token", {"path": "/orders/search"})]},
}

# The moment the cassettes' PUT happened (12:01 in Kyiv), so even the sandbox's own timestamps read alike.
CLOCK = datetime(2019, 12, 18, 10, 1, tzinfo=UTC)


def _json(text: str) -> Any:
    return json.loads(text) if text else None


def _orders_in(body: Any) -> list[dict[str, Any]]:
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict):
        return []
    if isinstance(content.get("orders"), list):
        return content["orders"]
    return [content] if "status" in content and "id" in content else []


def _starting_orders(cassettes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each order as the cassettes first show it: the state the story starts from."""
    first: dict[int, dict[str, Any]] = {}
    for name in cassettes:
        for item in interactions("rozetka", name):
            for order in _orders_in(_json(item["response"]["body"]["string"])):
                first.setdefault(order["id"], order)
    return list(first.values())


def _sandbox(name: str) -> RozetkaSandbox:
    setup = SETUP[name]
    sandbox = RozetkaSandbox(page_size=setup.get("page_size", 20), seed=1, clock=lambda: CLOCK)
    sandbox.fixed_token = TOKEN
    sandbox.add_seller("shop@example.com", setup.get("password", "password"))
    if "api_token" in setup:
        token, roles = setup["api_token"]
        sandbox.add_api_token(token, roles=roles)
    for order in _starting_orders(setup.get("orders_from", (name,))):
        sandbox.put_order(order)
    for kind, options in setup.get("faults", []):
        sandbox.faults.next(kind, **options)
    return sandbox


def _summary(order: dict[str, Any]) -> tuple[Any, Any, Any]:
    return order["id"], order["status"], order["ttn"]


@pytest.mark.parametrize("name", names("rozetka"))
def test_the_sandbox_answers_each_cassette_request_as_the_cassette_does(name: str) -> None:
    assert name in SETUP, f"cassette {name!r} has no sandbox setup: add one to SETUP"
    with _sandbox(name) as sandbox, httpx.Client() as http:
        for n, item in enumerate(interactions("rozetka", name)):
            request, response = item["request"], item["response"]
            uri = urlsplit(request["uri"])
            url = sandbox.url + uri.path + (f"?{uri.query}" if uri.query else "")
            headers = {k: v[0] for k, v in request["headers"].items()}
            body = request["body"].encode() if request["body"] else None
            answer = http.request(request["method"], url, headers=headers, content=body)
            where = f"{name} #{n} {request['method']} {uri.path}"

            expected, actual = _json(response["body"]["string"]), answer.json()
            assert answer.status_code == response["status"]["code"], where
            assert actual["success"] == expected["success"], where
            assert actual.get("errors") == expected.get("errors"), where  # errors are exact, words and all
            assert same_shape(shape(expected), shape(actual)) == [], where
            assert [_summary(o) for o in _orders_in(actual)] == [_summary(o) for o in _orders_in(expected)], where


def test_every_setup_names_a_cassette() -> None:
    assert set(SETUP) <= set(names("rozetka")), f"setups for missing cassettes: {set(SETUP) - set(names('rozetka'))}"


def test_seeded_orders_have_the_documented_shape() -> None:
    """The generator's orders match the cassettes' order model key for key, so a demo shows real payloads."""
    documented = shape(_starting_orders(("order_ship",))[0])
    sandbox = RozetkaSandbox(seed=7, orders=30)
    for order_id in sandbox.order_ids():
        assert same_shape(documented, shape(sandbox.order(order_id))) == [], order_id
