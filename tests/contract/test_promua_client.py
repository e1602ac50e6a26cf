"""The Prom.ua client and adapter against cassettes written from the reference: the wire format is pinned."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.base import HttpPolicy
from adapters.promua.adapter import PromAdapter
from adapters.promua.client import PromClient
from connector.domain import CancelReason, PaymentStatus, Status, build_command
from connector.errors import AuthError, PermanentError
from mappings import load
from tests.contract.cassettes import base_url, interactions, names, player

NOW = datetime(2025, 4, 8, 10, 0, tzinfo=UTC)
TOKEN = "prom-api-token-0000"
vcr = player("promua")


def client(cassette: str, *, token: str = TOKEN, slept: list | None = None) -> PromClient:
    sleep = slept.append if slept is not None else (lambda _: None)
    return PromClient(base_url("promua", cassette) + "/api/v1", token=token, sleep=sleep,
                      policy=HttpPolicy(backoff_initial=0.0, backoff_max=0.0))


def adapter(cassette: str, **kw) -> PromAdapter:
    return PromAdapter("promua-main", client(cassette), load("promua"), clock=lambda: NOW, settle=0, **kw)


def test_a_pull_maps_the_documented_order():
    with vcr.use_cassette("orders_list.yaml") as cassette:
        [page] = list(adapter("orders_list").pull(None))
    assert cassette.all_played
    request = cassette.requests[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    [pulled] = page.orders
    order = pulled.order
    assert pulled.error is None and order.key.external_id == "338000100"
    assert order.status is Status.NEW and (order.marketplace_status.code, order.marketplace_status.label) == (
        "pending", "Новий")
    assert order.total == Decimal("1234.50") and order.currency == "UAH"  # "1 234,50 грн", NBSP thousands
    assert order.payment_status is PaymentStatus.CASH_ON_DELIVERY  # payment_data null, "Наложенный платеж"
    assert order.created_at == datetime(2025, 4, 7, 6, 46, 42, 720000, tzinfo=UTC)
    assert [(l.sku, l.marketplace_item_id, l.name, l.quantity, l.unit_price) for l in order.lines] == [
        ("TEST-SKU-1", "2555000001", "Тестовий товар", 1, Decimal("1234.50"))]
    assert order.buyer.name == "Тест Покупець" and order.buyer.phone == "+380500000000" and order.buyer.email == ""
    assert order.shipments == []
    assert page.cursor == "2025-04-07T06:46:43.570000+00:00"  # the true high-water mark, in UTC
    assert json.loads(pulled.raw.body)["price"] == "1\u00a0234,50 грн"  # the raw payload is kept as sent


def test_the_last_id_cursor_pages_below_the_lowest_id_and_the_cursor_comes_with_the_last_page():
    with vcr.use_cassette("orders_list_two_pages.yaml") as cassette:
        pages = list(adapter("orders_list_two_pages", page_size=1).pull(None))
    assert cassette.all_played
    assert [[p.external_id for p in page.orders] for page in pages] == [["338000200"], ["338000100"], []]
    assert [page.cursor for page in pages] == [None, None, "2025-04-07T09:15:00+00:00"]
    received = pages[0].orders[0].order
    assert received.status is Status.ACCEPTED and received.payment_status is PaymentStatus.PAID  # evopay paid
    assert [(s.carrier, s.ttn) for s in received.shipments] == [("novaposhta", "20450000000077")]
    assert received.total == Decimal("350.00") and received.lines[0].quantity == 2  # "2" as a string
    assert received.lines[0].sku == "EXT-2"  # no sku: the seller's external_id


def test_a_custom_status_is_unknown_and_flagged_until_the_seller_maps_it():
    with vcr.use_cassette("order_custom_status.yaml") as cassette:
        pulled = adapter("order_custom_status").fetch("338000300")
    assert cassette.all_played
    order = pulled.order
    assert order.status is Status.UNKNOWN and order.marketplace_status.code == "custom-137639"
    assert order.needs_review and "custom-137639" in order.review_reason and "Очікує оплати" in order.review_reason


def test_an_unknown_order_is_a_permanent_error():
    with vcr.use_cassette("order_missing.yaml"), pytest.raises(PermanentError) as caught:
        client("order_missing").get_order(999)
    assert caught.value.status == 404 and "Order not found" in caught.value.message


def test_an_expired_or_revoked_token_is_an_auth_error_with_a_hint():
    with vcr.use_cassette("token_invalid.yaml") as cassette, pytest.raises(AuthError) as caught:
        list(adapter("token_invalid").pull(None))
    assert cassette.all_played and len(cassette.requests) == 1  # never retried
    assert "Invalid or expired token" in caught.value.message and "API token" in caught.value.hint


def test_a_429_waits_as_long_as_retry_after_says_then_reads_again():
    slept: list[float] = []
    with vcr.use_cassette("rate_limited.yaml") as cassette:
        order = client("rate_limited", slept=slept).get_order(338000100)
    assert cassette.all_played and order["id"] == 338000100 and 3.0 in slept


def test_requests_are_spaced_one_at_a_time():
    slept: list[float] = []
    ticks = iter([0.0, 0.0, 0.1, 0.4])
    c = PromClient("https://my.prom.ua/api/v1", token=TOKEN, requests_per_second=2.5, sleep=slept.append,
                   clock=lambda: next(ticks))
    with vcr.use_cassette("accept.yaml", allow_playback_repeats=True):
        c.get_order(338000100)
        c.get_order(338000100)
    assert slept == [pytest.approx(0.3)]  # 0.4 s between starts: the second waited what was left


def test_accept_sends_received_and_reads_back():
    with vcr.use_cassette("accept.yaml") as cassette:
        result = adapter("accept").push(build_command("accept"), "338000100")
    assert cassette.all_played and [r.method for r in cassette.requests] == ["GET", "POST", "GET"]
    assert result.sent == ["status received"] and result.remote_status == "received"


def test_ship_attaches_the_ttn_for_the_orders_provider_then_sets_received():
    ship = build_command("ship", {"ttn": "20450000000000", "carrier": "novaposhta"})
    with vcr.use_cassette("ship.yaml") as cassette:
        result = adapter("ship").push(ship, "338000100")
    assert cassette.all_played
    assert [r.method for r in cassette.requests] == ["GET", "POST", "GET", "POST", "GET"]
    assert result.sent == ["TTN 20450000000000 (nova_poshta)", "status received"]


def test_complete_sends_delivered():
    with vcr.use_cassette("complete.yaml") as cassette:
        result = adapter("complete").push(build_command("complete"), "338000200")
    assert cassette.all_played and result.sent == ["status delivered"] and result.remote_status == "delivered"


def test_cancel_sends_another_with_the_text_prom_requires_and_the_read_back_keeps_the_reason():
    cancel = build_command("cancel", {"reason": "payment_failed"})
    with vcr.use_cassette("cancel.yaml") as cassette:
        a = adapter("cancel")
        result = a.push(cancel, "338000100")
    assert cassette.all_played and result.sent == ["status canceled (another)"]
    final = json.loads(cassette.responses[-1]["body"]["string"])["order"]
    from adapters.promua import mapper
    order = mapper.to_order(final, "promua-main", load("promua"))
    assert order.status is Status.CANCELLED and order.cancel_reason is CancelReason.PAYMENT_FAILED


def test_a_refusal_in_a_200_is_permanent_and_keeps_proms_words():
    with vcr.use_cassette("status_refused.yaml") as cassette, pytest.raises(PermanentError) as caught:
        client("status_refused").set_status(338000100, {"status": "canceled",
                                                        "cancellation_reason": "buyers_request"})
    assert cassette.all_played and len(cassette.requests) == 1  # a write is never retried blindly
    assert "This status value is not allowed" in caught.value.message and caught.value.hint


def test_an_order_missing_from_processed_ids_is_not_success():
    with vcr.use_cassette("status_not_processed.yaml"), pytest.raises(PermanentError) as caught:
        client("status_not_processed").set_status(338000400, {"status": "received"})
    assert "Статус не змінено" in caught.value.message


def test_a_ttn_already_attached_is_the_goal_reached():
    with vcr.use_cassette("declaration_already_added.yaml") as cassette:
        outcome = client("declaration_already_added").save_declaration(338000200, "20450000000077", "nova_poshta")
    assert cassette.all_played and outcome == "already"


def test_a_refused_ttn_is_permanent_with_proms_words_and_fields():
    with vcr.use_cassette("declaration_refused.yaml"), pytest.raises(PermanentError) as caught:
        client("declaration_refused").save_declaration(338000100, "20450000000000", "pigeon_post")
    assert "Помилка валідації" in caught.value.message and "delivery_type" in caught.value.message


def test_every_cassette_is_replayed_by_a_test_and_names_the_documented_host():
    import inspect
    import sys
    source = inspect.getsource(sys.modules[__name__])
    assert [n for n in names("promua") if f'"{n}.yaml"' not in source] == []
    assert all(i["request"]["uri"].startswith("https://my.prom.ua/api/v1/") for n in names("promua")
               for i in interactions("promua", n))
