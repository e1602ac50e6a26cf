"""The Chopni seller-panel client against cassettes written from the reference: routes, forms, markup."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from adapters.chopni.adapter import ChopniAdapter
from adapters.chopni.client import ChopniClient, NotOurs
from adapters.chopni.page import parse_conversation, parse_order_page
from connector.domain import PaymentStatus, Status, build_command
from connector.errors import AuthError, PermanentError
from mappings import load
from tests.contract.cassettes import base_url, interactions, player

vcr = player("chopni")
NOW = datetime(2024, 3, 12, 12, 0, tzinfo=UTC)


def client(cassette: str, *, logged_in: bool = False, password: str = "password") -> ChopniClient:
    c = ChopniClient(base_url("chopni", cassette), email="shop@example.com", password=password,
                     requests_per_second=0, sleep=lambda _: None)
    if logged_in:  # the cassette starts inside a session
        c._logged_in = c._verified = True
        c._http.cookies.set("PHPSESSID", "k3v9q2m7a1c4b8n6h5j0r2t7su")
    return c


def body(cassette: str, i: int) -> str:
    return interactions("chopni", cassette)[i]["response"]["body"]["string"]


def test_login_posts_the_form_and_checks_the_seller_panel():
    with vcr.use_cassette("login.yaml") as cassette:
        c = client("login")
        c.login()
    assert cassette.all_played and c.logins == 1
    form = parse_qs(cassette.requests[1].body.decode() if isinstance(cassette.requests[1].body, bytes)
                    else cassette.requests[1].body)
    assert form == {"email": ["shop@example.com"], "password": ["password"]}
    assert "PHPSESSID=" in cassette.requests[2].headers["Cookie"]


def test_a_refused_login_says_what_the_panel_said():
    with vcr.use_cassette("login_refused.yaml"), pytest.raises(AuthError) as caught:
        client("login_refused", password="not-the-password").login()
    assert "No match for E-Mail Address and/or Password" in caught.value.message and "password" in caught.value.hint


def test_the_orders_table_is_read_with_offset_and_length_and_stops_on_an_empty_page():
    with vcr.use_cassette("orders_list.yaml") as cassette:
        c = client("orders_list", logged_in=True)
        first, past_end = c.list_orders(0, 10), c.list_orders(10, 10)
    assert cassette.all_played
    assert [r["order_id"] for r in first["aaData"]] == ["4211", "4208", "4199"] and past_end["aaData"] == []
    assert cassette.requests[0].headers["X-Requested-With"] == "XMLHttpRequest"


def test_the_order_page_parses_ids_statuses_lines_totals_and_history():
    page = parse_order_page(body("order_page", 0), "4211")
    assert (page.order_id, page.suborder_id, page.marketplace_status) == ("4211", "563", "PROCESSED")
    assert page.status_ids["SHIPPED"] == "9" and page.status_id("shipped") == "9"  # read, never hard-coded
    assert [(l.model, l.quantity, l.unit_price) for l in page.lines] == [
        ("MUG-RILA-350", 2, Decimal("18.50")), ("LIN-TC-140", 1, Decimal("79.00"))]
    assert page.total == Decimal("112.50") and page.currency == "EUR"
    assert [h.status for h in page.history] == ["PROCESSING", "PROCESSING"]
    assert page.history[1].comment == "Gift wrapping added as requested.\nShips tomorrow."


def test_the_conversation_fragment_gives_the_seller_id_and_what_was_said():
    conversation = parse_conversation(body("order_page", 1))
    assert conversation.seller_id == "27" and conversation.suborder_id == "563"
    assert conversation.seller_messages[0].startswith("Hello Ivana")


def test_a_page_that_is_not_an_order_page_is_a_clear_error_that_keeps_the_html():
    from connector.errors import PayloadError
    with pytest.raises(PayloadError, match="order 4211: the order page has no order block") as caught:
        parse_order_page(body("login", 0), "4211")
    assert caught.value.raw.startswith("<!DOCTYPE html>") or "<html" in caught.value.raw


def test_an_order_that_is_not_ours_is_refused_by_name():
    with vcr.use_cassette("order_missing.yaml"), pytest.raises(NotOurs, match="no order"):
        client("order_missing", logged_in=True).order_page(
            parse_qs(interactions("chopni", "order_missing")[0]["request"]["uri"].split("?", 1)[1])["order_id"][0])


def test_an_expired_session_logs_in_again_once():
    with vcr.use_cassette("session_expired.yaml") as cassette:
        c = client("session_expired", logged_in=True)
        rows = c.list_orders(0, 10)["aaData"]
    assert cassette.all_played and c.logins == 1 and rows


def test_ship_writes_one_history_row_with_the_tracking_number_then_confirms():
    ship = build_command("ship", {"ttn": "1234567890", "carrier": "econt"})
    with vcr.use_cassette("status_change.yaml") as cassette:
        adapter = ChopniAdapter("chopni-main", client("status_change", logged_in=True), load("chopni"),
                                clock=lambda: NOW)
        result = adapter.push(ship, "4211")
    assert cassette.all_played and [r.method for r in cassette.requests] == ["GET", "POST", "GET"]
    form = parse_qs(cassette.requests[1].body if isinstance(cassette.requests[1].body, str)
                    else cassette.requests[1].body.decode())
    assert form == {"suborder_id": ["563"], "order_comment": ["Tracking: Econt 1234567890"], "order_status": ["9"]}
    assert result.sent == ["SHIPPED: Tracking: Econt 1234567890"] and result.remote_status == "shipped"


def test_a_message_is_posted_and_a_refusal_keeps_chopnis_words():
    with vcr.use_cassette("message.yaml") as cassette:
        answer = client("message", logged_in=True).send_message(
            "4211", "563", "27", parse_qs(interactions("chopni", "message")[0]["request"]["body"])["ms-message-text"][0])
    assert cassette.all_played and answer["order_id"] == "4211"
    with vcr.use_cassette("message_refused.yaml"), pytest.raises(PermanentError, match="refused the message"):
        client("message_refused", logged_in=True).send_message(
            *(parse_qs(interactions("chopni", "message_refused")[0]["request"]["body"])[k][0]
              for k in ("order_id", "suborder_id", "seller_id", "ms-message-text")))


def test_the_documented_order_maps_onto_the_lifecycle():
    from adapters.chopni import mapper
    import json
    row = json.loads(body("orders_list", 0))["aaData"][0]
    pulled = mapper.pulled(row, body("order_page", 0), "chopni-main", load("chopni"), NOW)
    order = pulled.order
    assert order.status is Status.PROCESSING and order.marketplace_status.code == "PROCESSING"
    assert order.payment_status is PaymentStatus.PAID and order.currency == "EUR"
    assert order.buyer.name == "Ivana Testova" and order.created_at == datetime(2024, 3, 11, 12, 5, 12, tzinfo=UTC)
    assert json.loads(pulled.raw.body)["list_row"]["order_id"] == "4211"  # the raw row and page are kept
