"""Logs: JSON off a terminal, per-job context, and no buyer personal data or secrets in any event."""

from __future__ import annotations

import io
import json

from connector.logs import REDACTED, bound_contextvars, configure, get_logger, redact


def capture(**kw) -> list[dict]:
    stream = io.StringIO()
    configure("debug", "auto", stream=stream)  # a StringIO is not a terminal: JSON
    with bound_contextvars(account="rozetka-main", order="248888186"):
        get_logger().info("order pulled", **kw)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_logs_are_json_with_the_jobs_context_when_not_on_a_terminal():
    [event] = capture(status="new")
    assert event["event"] == "order pulled" and event["level"] == "info"
    assert event["account"] == "rozetka-main" and event["order"] == "248888186" and event["status"] == "new"
    assert event["timestamp"].endswith("Z")


def test_buyer_data_is_redacted_by_key_and_by_shape():
    [event] = capture(buyer_name="Test Buyer", phone="380671234567",
                      note="call +380 67 123 45 67 or 067 123 45 67, mail buyer@example.com",
                      payload={"user_title": {"full_name": "Test Buyer"}, "delivery": {"recipient_phone": "380"}})
    text = json.dumps(event, ensure_ascii=False)
    for leaked in ("Test Buyer", "380671234567", "123 45 67", "buyer@example.com"):
        assert leaked not in text
    assert event["buyer_name"] == REDACTED and event["payload"]["user_title"] == REDACTED


def test_ttns_order_ids_and_money_are_not_mistaken_for_phone_numbers():
    assert redact("TTN 20450000000000, order 248888186, total 640.00 UAH") == (
        "TTN 20450000000000, order 248888186, total 640.00 UAH")


def test_secrets_are_redacted_by_key():
    assert redact({"access_token": "abc", "password": "p", "Authorization": "Bearer abc"}) == {
        "access_token": REDACTED, "password": REDACTED, "Authorization": REDACTED}


def test_console_format_is_readable_text():
    stream = io.StringIO()
    configure("info", "console", stream=stream)
    get_logger().info("hello", email="x@example.com")
    assert "hello" in stream.getvalue() and "x@example.com" not in stream.getvalue()
    assert not stream.getvalue().lstrip().startswith("{")


def test_contact_data_finds_phones_emails_and_links_but_not_ttns_or_prices():
    from connector.domain.personal import contact_data
    text = "call +380 67 123 45 67 or mail a@b.com, see www.shop.bg or https://x.io/a; TTN 20450000000000, 12.50 EUR"
    assert contact_data(text) == ["+380 67 123 45 67", "a@b.com", "www.shop.bg", "https://x.io/a"]
    assert contact_data("Your parcel leaves today with Econt 1057123456. Order 248888186.") == []


def test_urls_lose_their_user_and_password():
    from connector.logs import strip_userinfo
    assert strip_userinfo("GET https://shop:p@ss@api.example.com/v1?x=a@b failed") == (
        "GET https://api.example.com/v1?x=a@b failed")
    assert strip_userinfo("postgresql://u:pw@db/x, http://host/p@x") == "postgresql://db/x, http://host/p@x"
    # redact() does it first, so the e-mail pattern does not eat the host and leave the login behind
    assert redact("login shop@example.com refused at https://shop:s3cret@api.example.com") == (
        "login [redacted] refused at https://api.example.com")


def test_readable_logs_drop_escape_sequences_from_marketplace_text():
    stream = io.StringIO()
    configure("info", "console", stream=stream)
    get_logger().info("order pulled \x1b]0;title\x07", name="Book \x1b[31mred\x1b[0m [/bold]")
    text = stream.getvalue()
    assert "Book [31mred[0m [/bold]" in text and "order pulled ]0;title" in text
    assert "\x1b]0;" not in text and "\x1b[31mred" not in text
