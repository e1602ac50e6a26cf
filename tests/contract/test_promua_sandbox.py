"""The Prom.ua sandbox speaks the cassettes' wire format: each cassette's requests, sent to the sandbox, get answers
of the same HTTP status, the same shape, the same processed_ids, status and error words, about the same orders.

Timestamps the sandbox makes itself (``date_modified`` after a write) differ from the cassettes' by nature, so
bodies are compared by shape, and orders by id, status and TTN.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.promua.sandbox import PromSandbox
from tests.contract.cassettes import interactions, names, same_shape, shape

TOKEN = "prom-api-token-0000"
CLOCK = datetime(2025, 4, 8, 10, 0, 30, tzinfo=UTC)

# Cassette → what the sandbox needs for its story: orders_from (the cassettes whose answers hold the starting
# orders, default the cassette itself), faults [(kind, options)], refused (statuses set_status refuses for now),
# token (False: the cassette's token is not one the sandbox knows).
SETUP: dict[str, dict[str, Any]] = {
    "accept": {},
    "cancel": {},
    "complete": {},
    "declaration_already_added": {"orders_from": ("orders_list_two_pages",)},
    "declaration_refused": {"orders_from": ("orders_list",)},
    "order_custom_status": {},
    "order_missing": {},
    "orders_list": {},
    "orders_list_two_pages": {},
    "rate_limited": {"orders_from": ("orders_list",), "faults": [("rate_limit", {"retry_after": 3})]},
    "ship": {},
    "status_not_processed": {"orders_from": ("order_delivered",)},
    "status_refused": {"orders_from": ("orders_list",), "refused": {"canceled"}},
    "token_invalid": {"token": False},
}


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text  # an HTML error page


def _orders_in(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("orders"), list):
        return body["orders"]
    return [body["order"]] if isinstance(body.get("order"), dict) else []


def _starting_orders(cassettes: tuple[str, ...]) -> list[dict[str, Any]]:
    first: dict[int, dict[str, Any]] = {}
    for name in cassettes:
        if name == "order_delivered":  # the delivered order of status_not_processed: a cassette order, finished
            order = dict(_starting_orders(("orders_list",))[0], id=338000400, status="delivered",
                         status_name="Виконано")
            first.setdefault(order["id"], order)
            continue
        for item in interactions("promua", name):
            for order in _orders_in(_json(item["response"]["body"]["string"])):
                first.setdefault(order["id"], order)
    return list(first.values())


def _sandbox(name: str) -> PromSandbox:
    setup = SETUP[name]
    sandbox = PromSandbox(seed=1, clock=lambda: CLOCK)
    if setup.get("token", True):
        sandbox.add_token(TOKEN)
    for order in _starting_orders(setup.get("orders_from", (name,))):
        sandbox.put_order(order)
    for kind, options in setup.get("faults", []):
        sandbox.faults.next(kind, **options)
    sandbox.refused_statuses |= setup.get("refused", set())
    return sandbox


def _summary(order: dict[str, Any]) -> tuple[Any, ...]:
    return order["id"], order["status"], order["delivery_provider_data"]["declaration_number"]


@pytest.mark.parametrize("name", names("promua"))
def test_the_sandbox_answers_each_cassette_request_as_the_cassette_does(name: str) -> None:
    assert name in SETUP, f"cassette {name!r} has no sandbox setup: add one to SETUP"
    with _sandbox(name) as sandbox, httpx.Client() as http:
        for i, item in enumerate(interactions("promua", name)):
            request, expected = item["request"], item["response"]
            uri = urlsplit(request["uri"])
            headers = {k: v[0] for k, v in request["headers"].items()}
            target = f"{sandbox.url}{uri.path}" + (f"?{uri.query}" if uri.query else "")
            answer = http.request(request["method"], target, headers=headers,
                                  content=(request["body"] or "").encode() or None)
            where = f"{name}[{i}] {request['method']} {uri.path}"
            assert answer.status_code == expected["status"]["code"], where
            if "Retry-After" in expected["headers"]:
                assert answer.headers["retry-after"] == expected["headers"]["Retry-After"][0], where
            want, got = _json(expected["body"]["string"]), _json(answer.text)
            if not isinstance(want, dict):
                assert answer.headers["content-type"].startswith("text/html"), where
                continue
            assert same_shape(shape(want), shape(got)) == [], where
            for key in ("processed_ids", "status", "error", "message"):
                if key in want:
                    assert got[key] == want[key], f"{where}: {key}"
            assert [_summary(o) for o in _orders_in(got)] == [_summary(o) for o in _orders_in(want)], where


def test_the_sandboxs_own_orders_have_the_documented_shape():
    """Seeded and new orders carry exactly the fields of the cassettes' orders, with the same types."""
    documented = shape(_starting_orders(("orders_list",))[0])
    sandbox = PromSandbox(seed=5, orders=30)
    orders = [sandbox.order(i) for i in sandbox.order_ids()] + [sandbox.order(sandbox.add_order())]
    for order in orders:
        # quantity is 1.0 or, now and then, "2" (both seen live): the shape compares the number form
        plain = dict(order, products=[dict(p, quantity=float(p["quantity"])) for p in order["products"]])
        assert same_shape(documented, shape(plain)) == [], order["id"]
    assert any(isinstance(p["quantity"], str) for o in orders for p in o["products"])
    prices = {o["price"] for o in orders}
    assert any("\u00a0" in p and p.endswith(" грн") for p in prices)  # "1 234,50 грн": NBSP thousands
    assert any(o["status"].startswith("custom-") for o in orders)  # the seller's own statuses


def test_the_command_line_takes_port_orders_and_seed(monkeypatch):
    from adapters.promua import sandbox as module
    seen = {}

    def serve(sandbox, parser, args, banner):
        seen.update(orders=len(sandbox.order_ids()), port=sandbox.port, banner=banner)
        return 0

    monkeypatch.setattr(module, "serve_from_args", serve)
    assert module.main(["--port", "0", "--orders", "7", "--seed", "3"]) == 0
    assert seen["orders"] == 7 and seen["port"] == 0 and "/api/v1" in seen["banner"][0]
