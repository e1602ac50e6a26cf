"""Payload → canonical order: every field that matters, and bad payloads kept rather than lost."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from adapters.rozetka import mapper
from connector.domain import PaymentStatus, Status
from mappings import load
from tests.contract.cassettes import interactions

V = load("rozetka")
SAMPLE = json.loads(interactions("rozetka", "orders_search")[1]["response"]["body"]["string"])["content"]["orders"][0]


def order(**changes):
    payload = copy.deepcopy(SAMPLE)
    payload.update(changes)
    return payload


def test_total_is_what_the_buyer_pays():
    o = mapper.to_order(order(cost="700.00", cost_with_discount="650.50"), "acc", V)
    assert o.total == Decimal("650.50")


def test_a_paid_card_order():
    payment = {"payment_type": "card", "payment_status": {"name": "paid", "status_payment_id": 2}}
    assert mapper.to_order(order(payment=payment), "acc", V).payment_status is PaymentStatus.PAID


def test_cancellation_carries_its_reason():
    o = mapper.to_order(order(status=42), "acc", V)
    assert (o.status, str(o.cancel_reason)) == (Status.CANCELLED, "out_of_stock")


def test_a_ttn_becomes_a_nova_poshta_shipment():
    o = mapper.to_order(order(status=61, ttn="2045 0000 0000 00"), "acc", V)
    assert [(s.carrier, s.ttn) for s in o.shipments] == [("novaposhta", "20450000000000")]


def test_a_line_removed_while_editing_is_not_part_of_the_order():
    removed = copy.deepcopy(SAMPLE["purchases"][0])
    removed.update(status=0, item_id=1)
    o = mapper.to_order(order(purchases=[SAMPLE["purchases"][0], removed]), "acc", V)
    assert [l.marketplace_item_id for l in o.lines] == ["38221768"]


def test_sku_falls_back_to_the_article():
    purchase = copy.deepcopy(SAMPLE["purchases"][0])
    purchase["item"].update(price_offer_id="", article="ART-7")
    assert mapper.to_order(order(purchases=[purchase]), "acc", V).lines[0].sku == "ART-7"


def test_an_undocumented_status_maps_to_unknown_and_keeps_the_code():
    o = mapper.to_order(order(status=999, status_data={"name_uk": "Новий статус"}), "acc", V)
    assert o.status is Status.UNKNOWN and o.marketplace_status.code == "999"
    assert o.marketplace_status.label == "Новий статус"


def test_a_mapping_review_note_flags_the_order():
    o = mapper.to_order(order(status=68), "acc", V)
    assert o.status is Status.COMPLETED and o.needs_review and "68" in o.review_reason


@pytest.mark.parametrize("change,field", [({"cost_with_discount": "lots"}, "cost_with_discount"),
                                          ({"changed": "yesterday"}, "changed"),
                                          ({"purchases": [{"quantity": "2", "price": "1"}]}, "quantity")])
def test_a_bad_payload_comes_back_with_its_error_and_its_raw_text(change, field):
    pulled = mapper.pulled(order(**change), "acc", V)
    assert pulled.order is None and pulled.external_id == "248888186"
    assert field in pulled.error.message and "248888186" in pulled.error.message
    assert json.loads(pulled.raw.body)["id"] == 248888186


def test_kyiv_time_round_trips_through_utc():
    utc = mapper.from_kyiv("2024-03-31 04:30:00", "t")  # just after the spring change: UTC+3
    assert utc.hour == 1 and mapper.to_kyiv(utc) == "2024-03-31 04:30:00"


@pytest.mark.parametrize("logo,carrier", [("nova-pochta", "novaposhta"), ("octopus", "rozetka")])
def test_a_documented_carrier_name_maps_to_our_carrier_code(logo, carrier):
    delivery = {**SAMPLE["delivery"], "name_logo": logo}
    o = mapper.to_order(order(status=61, ttn="20450000000000", delivery=delivery), "acc", V)
    assert [s.carrier for s in o.shipments] == [carrier] and not o.needs_review


@pytest.mark.parametrize("logo", ["ukrposhta", "meest", "rozetka-delivery", "justin"])
def test_an_unknown_carrier_name_is_kept_raw_and_the_order_flagged(logo):
    """Only the names the apiDoc's examples show are mapped; anything else is a guess we do not make."""
    delivery = {**SAMPLE["delivery"], "name_logo": logo}
    o = mapper.to_order(order(status=61, ttn="20450000000000", delivery=delivery), "acc", V)
    assert [(s.carrier, s.ttn) for s in o.shipments] == [(logo, "20450000000000")]
    assert o.needs_review and repr(logo) in o.review_reason and "name_logo" in o.review_reason


def test_a_return_flow_status_carries_what_it_means_after_a_delivery():
    o = mapper.to_order(order(status=86), "acc", V)
    assert (o.status, o.status_after_delivery) == (Status.DELIVERY_FAILED, Status.RETURN_REQUESTED)
    assert mapper.to_order(order(status=61), "acc", V).status_after_delivery is None
