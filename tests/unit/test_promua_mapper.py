"""The Prom.ua mapper and planner: localized prices, statuses (custom ones too), dates, and the steps a command
takes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.promua import mapper, planner
from adapters.promua.sandbox import PromSandbox
from connector.domain import CancelReason, PaymentStatus, Status, build_command
from connector.errors import CommandInvalid, ConflictError, PayloadError
from mappings import load

V = load("promua")


def payload(**changes) -> dict:
    order = _base()
    order.update(changes)
    return order


def _base() -> dict:
    sandbox = PromSandbox(seed=1)
    return sandbox.order(sandbox.add_order(provider="nova_poshta", prepaid=False))


@pytest.mark.parametrize("text,amount,currency", [
    ("1\u00a0234,50 грн", "1234.50", "UAH"), ("250 грн", "250", "UAH"), ("350.00", "350.00", None),
    ("1 234 567,89 грн", "1234567.89", "UAH"), ("1,234.50", "1234.50", None), ("1.234,50 грн.", "1234.50", "UAH"),
    ("99,9 ₴", "99.9", "UAH"), ("1\u202f500 грн", "1500", "UAH"), (80, "80", None), (80.5, "80.5", None),
    ("1 200 тг", "1200", "KZT"),
])
def test_localized_prices_become_decimals_with_their_currency(text, amount, currency):
    assert mapper.parse_price(text, "price") == (Decimal(amount), currency)


@pytest.mark.parametrize("text", ["", "грн", "abc", None, True, "1 2 3,4,5 грн x"])
def test_a_price_that_is_not_one_is_a_payload_error_naming_the_field(text):
    with pytest.raises(PayloadError, match="price"):
        mapper.parse_price(text, "price")


@pytest.mark.parametrize("value,expected", [(1.0, 1), ("2", 2), ("2 шт.", 2), (3, 3), ("1,0", 1)])
def test_quantities_are_whole_units_whatever_their_form(value, expected):
    assert mapper.parse_quantity(value, "q") == expected


@pytest.mark.parametrize("value", [1.5, "0,5 кг", "two", None])
def test_a_fractional_or_missing_quantity_is_refused_not_rounded(value):
    with pytest.raises(PayloadError):
        mapper.parse_quantity(value, "q")


def test_timestamps_become_utc_and_a_naive_one_is_kyiv_time():
    assert mapper.parse_time("2024-12-23T12:59:51.151722+00:00", "t") == datetime(2024, 12, 23, 12, 59, 51, 151722,
                                                                                   tzinfo=UTC)
    assert mapper.parse_time("2025-04-07T09:46:42+03:00", "t") == datetime(2025, 4, 7, 6, 46, 42, tzinfo=UTC)
    assert mapper.parse_time("2025-07-01T12:00:00", "t") == datetime(2025, 7, 1, 9, 0, tzinfo=UTC)  # summer, +3
    assert mapper.parse_time("2025-01-15T12:00:00", "t") == datetime(2025, 1, 15, 10, 0, tzinfo=UTC)  # winter, +2
    assert mapper.to_filter(datetime(2025, 4, 7, 9, 46, 42, tzinfo=UTC)) == "2025-04-07T09:46:42"
    with pytest.raises(PayloadError):
        mapper.parse_time("yesterday", "date_modified")


@pytest.mark.parametrize("code,status", [("pending", Status.NEW), ("paid", Status.NEW), ("received", Status.ACCEPTED),
                                         ("delivered", Status.COMPLETED), ("canceled", Status.CANCELLED),
                                         ("draft", Status.NEW)])
def test_every_documented_status_maps(code, status):
    assert V.rule(code).status is status
    assert set(V.documented) == {"pending", "received", "delivered", "canceled", "draft", "paid"}
    assert V.gaps() == []


def test_a_custom_status_is_unknown_and_flagged_with_its_label_until_an_override_maps_it(tmp_path):
    order = mapper.to_order(payload(status="custom-137639", status_name="Очікує оплати"), "p", V)
    assert order.status is Status.UNKNOWN and order.needs_review
    assert "custom-137639" in order.review_reason and "Очікує оплати" in order.review_reason
    override = tmp_path / "promua-main.yaml"
    override.write_text('statuses:\n  "custom-137639": {status: processing, label: "Очікує оплати"}\n',
                        encoding="utf-8")
    mapped = mapper.to_order(payload(status="custom-137639", status_name="Очікує оплати"), "p",
                             load("promua", override))
    assert mapped.status is Status.PROCESSING and not mapped.needs_review


def test_a_draft_is_flagged_and_a_paid_order_is_new_and_paid():
    assert mapper.to_order(payload(status="draft"), "p", V).needs_review
    paid = mapper.to_order(payload(status="paid", payment_data=None), "p", V)
    assert paid.status is Status.NEW and paid.payment_status is PaymentStatus.PAID


@pytest.mark.parametrize("data,option,expected", [
    ({"type": "evopay", "status": "paid"}, "Пром-оплата", PaymentStatus.PAID),
    ({"type": "evopay", "status": "unpaid"}, "Пром-оплата", PaymentStatus.UNPAID),
    ({"type": "evopay", "status": "paid_out"}, "Пром-оплата", PaymentStatus.PAID),
    ({"type": "evopay", "status": "refunded"}, "Пром-оплата", PaymentStatus.REFUNDED),
    (None, "Наложенный платеж", PaymentStatus.CASH_ON_DELIVERY),
    (None, "Оплата при отриманні", PaymentStatus.CASH_ON_DELIVERY),
    (None, "Безготівковий розрахунок", PaymentStatus.UNKNOWN),
])
def test_payment_status_comes_from_payment_data_or_the_payment_option(data, option, expected):
    order = mapper.to_order(payload(payment_data=data, payment_option={"id": 1, "name": option}), "p", V)
    assert order.payment_status is expected


@pytest.mark.parametrize("title,reason", [("Немає в наявності", CancelReason.OUT_OF_STOCK),
                                          ("Нет в наличии", CancelReason.OUT_OF_STOCK),
                                          ("На прохання покупця", CancelReason.BUYER_REQUEST),
                                          ("Дубль замовлення", CancelReason.DUPLICATE),
                                          ("Щось зовсім інше", CancelReason.OTHER)])
def test_a_cancellation_reason_is_read_from_proms_words(title, reason):
    order = mapper.to_order(payload(status="canceled", cancellation={"title": title, "initiator": "buyer"}), "p", V)
    assert order.status is Status.CANCELLED and order.cancel_reason is reason


def test_the_delivery_becomes_a_shipment_with_our_carrier_code_and_unknown_providers_stay_raw():
    def shipment(provider, ttn):
        base = payload()
        base["delivery_provider_data"] = dict(base["delivery_provider_data"], provider=provider,
                                              declaration_number=ttn)
        order = mapper.to_order(base, "p", V)
        return [(s.carrier, s.ttn) for s in order.shipments], order.needs_review

    assert shipment("nova_poshta", "2045 0000 0000 00") == ([("novaposhta", "20450000000000")], False)
    assert shipment("ukrposhta", "0500000000000") == ([("ukrposhta", "0500000000000")], False)
    assert shipment("meest", "MEEST123") == ([("meest", "MEEST123")], True)  # kept raw, flagged
    assert shipment(None, "20450000000000") == ([("unknown", "20450000000000")], False)  # routed by format
    assert shipment("nova_poshta", None) == ([], False)


def test_lines_fall_back_from_sku_to_external_id_and_names_prefer_ukrainian():
    order = payload()
    order["products"] = [{**order["products"][0], "sku": "", "external_id": "EXT-9", "quantity": "3"}]
    [line] = mapper.to_order(order, "p", V).lines
    assert line.sku == "EXT-9" and line.quantity == 3 and line.name == order["products"][0]["name_multilang"]["uk"]


def test_a_payload_that_does_not_parse_comes_back_with_its_error_and_raw_text():
    bad = payload()
    bad["products"][0]["quantity"] = "півтора"
    pulled = mapper.pulled(bad, "p", V)
    assert pulled.order is None and "quantity" in pulled.error.message and str(bad["id"]) in pulled.error.message
    assert pulled.raw.body and pulled.external_id == str(bad["id"])


# ---- the planner


def remote(status="pending", ttn="", provider="nova_poshta") -> planner.Remote:
    return planner.Remote(status, ttn, provider)


def goal(kind, **payload_):
    return planner.goal_for(build_command(kind, payload_), V)


def test_accept_is_received_once():
    assert planner.next_step(goal("accept"), remote(), V) == planner.Step("status", status="received")
    assert planner.next_step(goal("accept"), remote("received"), V) is None
    assert planner.next_step(goal("accept"), remote("delivered"), V) is None
    assert planner.next_step(goal("accept"), remote("custom-137639"), V) is None  # the seller has it in hand


def test_ship_attaches_the_ttn_first_then_sets_received_and_never_repeats_a_step():
    g = goal("ship", ttn="20450000000000", carrier="novaposhta")
    assert planner.next_step(g, remote(), V) == planner.Step("declaration", ttn="20450000000000",
                                                            delivery_type="nova_poshta")
    assert planner.next_step(g, remote(ttn="20450000000000"), V) == planner.Step("status", status="received")
    assert planner.next_step(g, remote("received", "20450000000000"), V) is None
    # a custom status keeps its place; only the TTN goes
    assert planner.next_step(g, remote("custom-137640", "20450000000000"), V) is None


def test_ship_takes_the_orders_provider_and_refuses_a_mismatch_or_a_provider_without_ttns():
    assert planner.next_step(goal("ship", ttn="0500000000000"), remote(provider="ukrposhta"), V).delivery_type == \
        "ukrposhta"
    assert planner.next_step(goal("ship", ttn="0500000000000", carrier="ukrposhta"), remote(provider=""),
                             V).delivery_type == "ukrposhta"
    with pytest.raises(CommandInvalid, match="not novaposhta"):
        planner.next_step(goal("ship", ttn="20450000000000", carrier="novaposhta"), remote(provider="ukrposhta"), V)
    with pytest.raises(CommandInvalid, match="names none"):
        planner.next_step(goal("ship", ttn="20450000000000"), remote(provider=""), V)
    with pytest.raises(CommandInvalid, match="rozetka_delivery"):
        planner.next_step(goal("ship", ttn="20450000000000"), remote(provider="rozetka_delivery"), V)


@pytest.mark.parametrize("reason,prom,text", [
    ("out_of_stock", "not_available", ""), ("buyer_request", "buyers_request", ""), ("duplicate", "duplicate", ""),
    ("buyer_unreachable", "invalid_phone_number", ""), ("price_changed", "price_changed", "Змінилась ціна товару"),
    ("payment_failed", "another", "Оплата не надійшла"), ("other", "another", "Скасовано продавцем"),
])
def test_cancel_reasons_come_from_the_mapping_with_the_text_prom_requires(reason, prom, text):
    step = planner.next_step(goal("cancel", reason=reason), remote(), V)
    assert step.body() == {"status": "canceled", "cancellation_reason": prom} | (
        {"cancellation_text": text} if text else {})


def test_a_sellers_comment_is_the_cancellation_text():
    step = planner.next_step(goal("cancel", reason="other", comment="Покупець передумав"), remote(), V)
    assert step.text == "Покупець передумав"


def test_what_prom_cannot_do_is_refused_with_the_reason():
    for kind, payload_ in (("comment", {"text": "x"}), ("message_buyer", {"text": "x"}), ("start_processing", {}),
                           ("refund", {"note": "x"}), ("exchange", {"note": "x"})):
        with pytest.raises(CommandInvalid) as caught:
            goal(kind, **payload_)
        assert caught.value.hint and "cabinet" in caught.value.hint or "received" in caught.value.hint
    with pytest.raises(CommandInvalid, match="marketplace"):
        goal("cancel", reason="marketplace")


def test_a_cancelled_order_conflicts_with_every_other_command_and_a_completed_one_with_cancel():
    with pytest.raises(ConflictError):
        planner.next_step(goal("accept"), remote("canceled"), V)
    with pytest.raises(ConflictError):
        planner.next_step(goal("cancel", reason="other"), remote("delivered"), V)
    assert planner.next_step(goal("cancel", reason="other"), remote("canceled"), V) is None


def test_a_write_prom_confirmed_but_the_read_does_not_show_fails_once():
    step = planner.Step("declaration", ttn="20450000000000", delivery_type="nova_poshta")
    assert planner.unapplied(step, remote(ttn="20450000000000"), V) is None
    assert "no TTN" in planner.unapplied(step, remote(), V).message
    status = planner.Step("status", status="received")
    assert planner.unapplied(status, remote("received"), V) is None
    assert planner.unapplied(status, remote("pending"), V) is not None
