"""The Rozetka client and adapter against cassettes written from the reference: the wire format is pinned."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from connector.domain import PaymentStatus, Status, build_command
from connector.errors import AuthError, PermanentError
from mappings import load
from tests.contract.cassettes import base_url, interactions, names, player

NOW = datetime(2019, 12, 18, 10, 0, tzinfo=UTC)
vcr = player("rozetka")


def client(cassette: str, **kw) -> RozetkaClient:
    kw.setdefault("username", "shop@example.com")
    kw.setdefault("password", "password")
    if "token" in kw:
        kw.pop("username"), kw.pop("password")
    return RozetkaClient(base_url("rozetka", cassette), sleep=lambda _: None, **kw)


def adapter(cassette: str, **kw) -> RozetkaAdapter:
    return RozetkaAdapter("rozetka-main", client(cassette, **kw), load("rozetka"), clock=lambda: NOW)


def test_login_sends_the_password_base64_and_keeps_the_token():
    with vcr.use_cassette("login.yaml") as cassette:
        token = client("login").login()
    sent = json.loads(cassette.requests[0].body)
    assert sent == {"username": "shop@example.com", "password": base64.b64encode(b"password").decode()}
    assert token == "fHJHJWegsad4fr8798fwe45GDGBfhgawrf33" and cassette.all_played


def test_a_refused_login_is_an_auth_error_with_rozetkas_code_and_a_hint():
    with vcr.use_cassette("login_refused.yaml"), pytest.raises(AuthError) as caught:
        client("login_refused").login()
    assert caught.value.code == 1004 and "incorrect_username_password" in caught.value.message
    assert "password" in caught.value.hint


def test_a_pull_maps_the_documented_order():
    with vcr.use_cassette("orders_search.yaml") as cassette:
        pages = list(adapter("orders_search").pull(None))
    assert cassette.all_played
    request = cassette.requests[1]
    assert request.headers["Content-Language"] == "uk"
    assert request.headers["Authorization"] == "Bearer fHJHJWegsad4fr8798fwe45GDGBfhgawrf33"
    [page] = pages
    [pulled] = page.orders
    order = pulled.order
    assert pulled.error is None and order.key.external_id == "248888186"
    assert order.status is Status.NEW and order.marketplace_status.code == "1"
    assert order.marketplace_status.label == "Нове замовлення"
    assert str(order.total) == "640.00" and order.currency == "UAH"
    assert order.payment_status is PaymentStatus.CASH_ON_DELIVERY
    assert order.created_at == datetime(2019, 7, 25, 8, 49, 32, tzinfo=UTC)  # Kyiv summer time, UTC+3
    assert order.changed_at == datetime(2019, 12, 17, 15, 34, 58, tzinfo=UTC)  # Kyiv winter time, UTC+2
    assert [(l.sku, l.marketplace_item_id, l.quantity, str(l.unit_price)) for l in order.lines] == [
        ("12106", "38221768", 1, "640.00")]
    assert order.buyer.name == "Test Buyer" and order.buyer.email == ""  # "email": "true" is a flag, not an address
    assert page.cursor == "2019-12-17T15:34:58+00:00"  # the true high-water mark, in UTC
    assert json.loads(pulled.raw.body)["id"] == 248888186  # the raw payload is kept


def test_the_cursor_comes_only_with_the_last_page():
    with vcr.use_cassette("orders_search_two_pages.yaml") as cassette:
        pages = list(adapter("orders_search_two_pages").pull(None))
    assert cassette.all_played
    assert [[p.external_id for p in page.orders] for page in pages] == [["248888186"], ["248888187"]]
    assert [page.cursor for page in pages] == [None, "2019-12-17T16:02:11+00:00"]


def test_every_search_asks_for_validation_errors_as_the_cassettes_pin_it():
    """Without Accept-Validate-Exception Rozetka drops a filter it rejects and answers unfiltered: an incremental
    pull would take that for the whole window. Every search cassette pins the header; the client sends it."""
    searches = [(n, i["request"]) for n in names("rozetka") for i in interactions("rozetka", n)
                if "/orders/search" in i["request"]["uri"]]
    assert searches and all(r["headers"].get("Accept-Validate-Exception") == ["1"] for _, r in searches)
    for name in sorted({n for n, _ in searches}):
        a = adapter(name, **({"token": "static-api-token"} if name == "access_denied" else {}))
        sent: list = []  # what the client really sends (vcr's cassette.requests are the recorded ones)
        a.client._http.event_hooks["request"].append(sent.append)
        with vcr.use_cassette(f"{name}.yaml"):
            try:
                list(a.pull(None))
            except AuthError:
                pass  # access_denied's story
        pinned = [r["headers"] for n, r in searches if n == name]
        sent = [r for r in sent if r.url.path == "/orders/search"]
        assert len(sent) == len(pinned), name
        for request, headers in zip(sent, pinned, strict=True):
            assert {k: request.headers.get(k) for k in headers if k != "Authorization"} == {
                k: v[0] for k, v in headers.items() if k != "Authorization"}, name


def test_an_expired_token_logs_in_again_once_and_the_call_succeeds():
    with vcr.use_cassette("token_expired.yaml") as cassette:
        a = adapter("token_expired")
        pages = list(a.pull(None))
    assert cassette.all_played and a.client.logins == 2
    assert pages[0].orders[0].external_id == "248888186"


def test_a_token_without_the_orders_role_is_an_auth_error():
    with vcr.use_cassette("access_denied.yaml"), pytest.raises(AuthError) as caught:
        list(adapter("access_denied", token="static-api-token").pull(None))
    assert caught.value.code == 1010 and "orders role" in caught.value.hint


def test_ship_reads_the_order_then_sends_61_with_the_ttn_then_confirms():
    ship = build_command("ship", {"ttn": "20450000000000", "comment": "Sent via Nova Poshta"})
    with vcr.use_cassette("order_ship.yaml") as cassette:
        result = adapter("order_ship").push(ship, "903654095")
    assert cassette.all_played
    assert [r.method for r in cassette.requests] == ["POST", "GET", "PUT", "GET"]
    assert result.sent == ["status 61 with TTN 20450000000000 with a comment"] and result.remote_status == "61"


def test_a_forbidden_transition_is_permanent_and_keeps_rozetkas_words():
    with vcr.use_cassette("order_transition_refused.yaml") as cassette, pytest.raises(PermanentError) as caught:
        client("order_transition_refused").update_order(248888186, {"status": 61, "ttn": "20450000000000"})
    assert cassette.all_played and len(cassette.requests) == 2  # login + one PUT: never retried
    assert caught.value.code == 1005
    assert "Неможливо змінити статус. З 1 на 61. Наступний статус недоступний." in caught.value.message


def test_a_buyer_message_goes_into_the_orders_chat():
    message = build_command("message_buyer", {"text": "Your parcel leaves today."})
    with vcr.use_cassette("message_buyer.yaml") as cassette:
        result = adapter("message_buyer").push(message, "903654095")
    assert cassette.all_played and result.sent == ["message to the buyer"]
    assert cassette.requests[1].query == [("expand", "messages")]  # messages come only when expanded
    sent = json.loads(cassette.requests[-1].body)
    # the chat's user_id is the buyer (the documented field), not chat.user.id (545645 in the cassette)
    assert (sent["chat_id"], sent["receiver_id"]) == (5501, 39919762)


def test_every_cassette_is_replayed_by_a_test():
    import inspect
    import sys
    source = inspect.getsource(sys.modules[__name__])
    assert [n for n in names("rozetka") if f'"{n}.yaml"' not in source] == []
    assert all(i["request"]["uri"].startswith("https://") for n in names("rozetka")
               for i in interactions("rozetka", n))
