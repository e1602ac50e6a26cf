"""The Chopni sandbox speaks the cassettes' wire format: each cassette's requests, sent to the sandbox, get answers
of the same HTTP status, redirect target, JSON shape and HTML structure, about the same orders.

The cassettes were written by hand from the reference and the stock MultiMerch 8.14.2 templates; the sandbox
renders its own markup. What must agree is what a client reads: the elements behind the parser's selectors, their
counts and their texts (whitespace normalised), not the bytes around them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import lxml.html
import pytest

from adapters.chopni.sandbox import ChopniSandbox
from tests.contract.cassettes import interactions, names, same_shape, shape

SELLER = {"email": "shop@example.com", "password": "password", "nickname": "Test Shop", "customer_id": 27}
OTHER_SELLER = {"email": "other@example.com", "password": "other-password", "nickname": "Other Shop",
                "customer_id": 31}
STATUS_IDS = {"Pending": 7, "PROCESSING": 8, "SHIPPED": 9, "COMPLETE": 10, "refunded": 11, "Cancelled": 12,
              "Failed": 13}
REPLAY_AT = datetime(2024, 3, 13, 9, 0, tzinfo=UTC)  # 11:00 in Sofia, the day of the cassettes' requests


class Clock:
    def __init__(self) -> None:
        self.now = REPLAY_AT

    def __call__(self) -> datetime:
        return self.now


# -- the cassettes' orders, each as the story that made it (times in UTC; Sofia is UTC+2 in March) --------------

IVANA = {"firstname": "Ivana", "lastname": "Testova", "email": "ivana.testova@example.com",
         "telephone": "+359 88 000 0000", "company": "", "address_1": "ul. Primerna 1", "address_2": "ap. 5",
         "city": "Sofia", "postcode": "1000", "zone": "Sofia - town", "country": "Bulgaria"}
ANDREI = {"firstname": "Andrei", "lastname": "Exemplu", "email": "andrei.exemplu@example.com",
          "telephone": "+40 700 000 123", "company": "", "address_1": "Str. Exemplului 2", "address_2": "",
          "city": "Cluj-Napoca", "postcode": "400000", "zone": "Cluj", "country": "Romania"}
GEORGI = {"firstname": "Георги", "lastname": "Тестов", "email": "georgi.testov@example.com",
          "telephone": "+359 88 000 0042", "company": "", "address_1": "bul. Testov 15", "address_2": "",
          "city": "Plovdiv", "postcode": "4000", "zone": "Plovdiv", "country": "Bulgaria"}


def _order_4211(sb: ChopniSandbox, clock: Clock) -> None:
    clock.now = datetime(2024, 3, 11, 12, 5, 12, tzinfo=UTC)
    sb.add_order(order_id=4211, suborder_id=563, buyer=IVANA, shipping="13.90", marketplace_status="PROCESSED",
                 payment_method="Credit / Debit Card", shipping_method="Econt - to office",
                 lines=[{"product_id": 1187, "name": 'Ceramic mug "Rila" 350 ml', "model": "MUG-RILA-350",
                         "quantity": 2, "price": "18.50", "options": [("Colour", "Cobalt blue")]},
                        {"product_id": 1203, "name": "Linen tablecloth 140x180 cm", "model": "LIN-TC-140",
                         "quantity": 1, "price": "79.00"}])
    clock.now = datetime(2024, 3, 11, 15, 30, tzinfo=UTC)
    sb.set_vendor_status(4211, "PROCESSING", "Thank you for your order! We are preparing it.")
    clock.now = datetime(2024, 3, 12, 8, 2, tzinfo=UTC)
    sb.set_vendor_status(4211, "PROCESSING", "Gift wrapping added as requested.\nShips tomorrow.")
    clock.now = datetime(2024, 3, 12, 8, 15, 32, tzinfo=UTC)
    sb.add_message(4211, "Hello Ivana, thank you for your order!\n"
                         "The gift wrapping is no problem, we will add a card too.")


def _order_4208(sb: ChopniSandbox, clock: Clock) -> None:
    clock.now = datetime(2024, 3, 8, 7, 41, 3, tzinfo=UTC)
    sb.add_order(order_id=4208, suborder_id=559, buyer=ANDREI, shipping="6.90", marketplace_status="PROCESSED",
                 payment_method="Credit / Debit Card", shipping_method="Speedy - to address",
                 lines=[{"product_id": 1142, "name": "Rose oil soap 100 g", "model": "SOAP-ROSE-100", "quantity": 3,
                         "price": "6.50"},
                        {"product_id": 1151, "name": "Lavender sachet", "model": "SACH-LAV", "quantity": 1,
                         "price": "4.90"}])
    clock.now = datetime(2024, 3, 8, 10, 0, tzinfo=UTC)
    sb.set_vendor_status(4208, "PROCESSING")
    clock.now = datetime(2024, 3, 9, 9, 0, tzinfo=UTC)
    sb.set_vendor_status(4208, "SHIPPED", "Tracking: Speedy 61234567890")


def _order_4199(sb: ChopniSandbox, clock: Clock) -> None:
    clock.now = datetime(2024, 3, 4, 16, 22, 47, tzinfo=UTC)
    sb.add_order(order_id=4199, suborder_id=552, buyer=GEORGI, shipping="8.50", marketplace_status="COD",
                 payment_method="Cash On Delivery", shipping_method="Econt - to address",
                 lines=[{"product_id": 1098, "name": "Walnut cutting board 35x25 cm", "model": "BRD-WAL-35",
                         "quantity": 1, "price": "45.00", "options": [("Engraving", "Initials on the back side")]}])


def _order_4100(sb: ChopniSandbox, clock: Clock) -> None:
    """Another seller's order: viewOrder must not show it to ours."""
    clock.now = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    sb.add_order(order_id=4100, suborder_id=540, seller_id=OTHER_SELLER["customer_id"])


ORDERS: dict[int, Callable[[ChopniSandbox, Clock], None]] = {
    4100: _order_4100, 4199: _order_4199, 4208: _order_4208, 4211: _order_4211}

LIST_ORDERS = (4199, 4208, 4211)
# Cassette → what the sandbox needs for its story. Keys: orders (made in this order); session (the cassette's
# cookie is logged in before the replay); faults [(kind, options)].
SETUP: dict[str, dict[str, Any]] = {
    "login": {},
    "login_refused": {},
    "message": {"orders": (4211,), "session": True},
    "message_refused": {"orders": (4211,), "session": True},
    "order_missing": {"orders": (4100, 4211), "session": True},
    "order_page": {"orders": (4211,), "session": True},
    "orders_list": {"orders": LIST_ORDERS, "session": True},
    "session_expired": {"orders": LIST_ORDERS, "session": True,
                        "faults": [("expire_token", {"path": "seller/account-order/getTableData"})]},
    "status_change": {"orders": (4211,), "session": True},
}


def _sandbox(name: str) -> tuple[ChopniSandbox, Clock]:
    setup, clock = SETUP[name], Clock()
    sandbox = ChopniSandbox(seed=1, clock=clock, status_ids=STATUS_IDS)
    sandbox.add_seller(**SELLER)
    sandbox.add_seller(**OTHER_SELLER)
    for order_id in setup.get("orders", ()):
        ORDERS[order_id](sandbox, clock)
    clock.now = REPLAY_AT
    return sandbox, clock


def _cookie(name: str) -> str | None:
    for item in interactions("chopni", name):
        for value in item["request"]["headers"].get("Cookie", []):
            return value
    return None


# -- what a client reads from the HTML ------------------------------------------------------------------------------

def _text(element: Any) -> str:
    return " ".join(element.text_content().split())


def _panel(doc: Any, icon: str) -> Any | None:
    for panel in doc.cssselect("div.panel"):
        if panel.cssselect(f"h3.panel-title i.{icon}"):
            return panel
    return None


def _rows(table: Any, part: str) -> list[list[str]]:
    return [[_text(td) for td in tr.findall("td")] for tr in table.xpath(f"./{part}/tr")]


def html_facts(body: str) -> dict[str, Any]:
    """The elements the client parser relies on, reduced to comparable values."""
    doc = lxml.html.fromstring(body)
    facts: dict[str, Any] = {
        "order_info": len(doc.cssselect("div.ms-account-order-info")),
        "mm_orders": [(len(t.cssselect("thead tr")), len(t.cssselect("tbody tr"))) for t in
                      doc.cssselect("table#mm_orders")],
        "alerts": [_text(e) for e in doc.cssselect("div.alert-danger")],
        "login_form": [(i.get("name"), i.get("type")) for i in
                       doc.xpath("//form[contains(@action, 'route=account/login')]//input[@name]")],
        "panels": [_text(h) for h in doc.cssselect("div.panel h3.panel-title")],
        "status_options": [(o.get("value"), _text(o), o.get("disabled") is not None, o.get("selected") is not None)
                           for o in doc.cssselect("select[name=order_status] option")],
        "suborder_id": [i.get("value") for i in doc.cssselect("input[name=suborder_id]")],
        "order_comment": [(t.get("id"), t.get("placeholder")) for t in doc.cssselect("textarea[name=order_comment]")],
        "button_history": len(doc.cssselect("button#button-history")),
        "seller_history": [_text(e) for e in doc.cssselect("div#seller_history")],
        "marketplace_status": [_text(b) for b in doc.cssselect("b")
                               if _text(b).startswith("Marketplace order status:")],
    }
    details = _panel(doc, "fa-book")
    if details is not None:
        left, right = details.cssselect("table tbody tr td")[:2]
        left_text = _text(left)
        facts["order_id"] = re.findall(r"Order ID:\s*#(\d+)-(\d+)", left_text)
        facts["date_added"] = re.findall(r"Date Added:\s*(\d\d/\d\d/\d{4})", left_text)
        facts["invoice"] = bool(re.search(r"Invoice No\.:\s*\S+", left_text))
        facts["methods"] = _text(right)
    addresses = _panel(doc, "fa-map-marker")
    if addresses is not None:
        table = addresses.cssselect("table")[0]
        facts["addresses"] = (_rows(table, "thead"), _rows(table, "tbody"))
    products = _panel(doc, "fa-shopping-cart")
    if products is not None:
        table = products.cssselect("table")[0]
        facts["products"] = _rows(table, "tbody")
        facts["totals"] = [[cell for cell in row if cell] for row in _rows(table, "tfoot")]
        facts["product_links"] = [a.get("href").split("route=")[-1] for a in table.cssselect("tbody tr td a")]
    transactions = _panel(doc, "fa-money")
    if transactions is not None:
        table = transactions.cssselect("table")[0]
        facts["transactions"] = (_rows(table, "tbody"), [_text(td) for td in table.xpath("./tbody/td")])
    history_tables = doc.xpath("//select[@name='order_status']/ancestor::table[1]")
    if history_tables:
        table = history_tables[0]
        facts["history_head"] = _rows(table, "thead")
        facts["history"] = _rows(table, "tbody")
    conversation = doc.cssselect("div.ms-messages")
    if conversation:
        facts["messages"] = [
            (sorted(set(m.get("class").split()) - {"row"}),
             " ".join(m.cssselect("div.title")[0].text.split()),
             [_text(d) for d in m.cssselect("div.title span.date")],
             _text(m.cssselect("div.body")[0]))
            for m in doc.cssselect("div.ms-message")]
        facts["message_forms"] = [
            (f.get("id"), [(i.get("name"), i.get("type"), i.get("value")) for i in f.cssselect("input")],
             [t.get("name") for t in f.cssselect("textarea")],
             [b.get("data-suborder_id") for b in f.cssselect("button.ms-order-message")])
            for f in doc.cssselect("form[id^=ms-message-form]")]
    return facts


def fragment_facts(fragment: str) -> dict[str, Any]:
    """The list row's HTML cells (products, view_order)."""
    doc = lxml.html.fromstring(f"<div>{fragment}</div>")
    return {
        "names": [_text(e) for e in doc.cssselect("p span.name")],
        "options": [_text(e) for e in doc.cssselect("p small")],
        "totals": [_text(e) for e in doc.cssselect("p span.total")],
        "links": [(a.get("class"), _route_and_args(a.get("href")), a.get("target")) for a in doc.cssselect("a")],
    }


def _route_and_args(href: str | None) -> tuple[str, ...]:
    query = parse_qs(urlsplit((href or "").replace("&amp;", "&")).query)
    return tuple(sorted(f"{k}={v[-1]}" for k, v in query.items()))


ROW_VALUES = ("order_id", "suborder_status", "date_created", "customer_name", "total_amount", "order_status_id",
              "suborder_id", "seller_id", "currency_code", "total", "firstname", "lastname", "email", "date_added")


def json_facts(value: Any) -> Any:
    if isinstance(value, dict) and "aaData" in value:
        return {
            "totals": (value["iTotalRecords"], value["iTotalDisplayRecords"]),
            "rows": [({k: row.get(k) for k in ROW_VALUES}, fragment_facts(row["products"]),
                      fragment_facts(row["view_order"])) for row in value["aaData"]],
            "total_rows": [row.get("total_rows") for row in value["aaData"]],
        }
    return value  # messages: success text and order_id, or the exact errors


def _route(location: str) -> str | None:
    return parse_qs(urlsplit(location).query).get("route", [None])[0]


# -- the test -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", names("chopni"))
def test_the_sandbox_answers_each_cassette_request_as_the_cassette_does(name: str) -> None:
    assert name in SETUP, f"cassette {name!r} has no sandbox setup: add one to SETUP"
    sandbox, _clock = _sandbox(name)
    with sandbox, httpx.Client(timeout=5) as http:
        if SETUP[name].get("session"):
            cookie = _cookie(name)
            assert cookie, f"{name}: a session setup needs a cassette that sends a cookie"
            login = http.post(f"{sandbox.url}/index.php?route=account/login", headers={"Cookie": cookie},
                              data={"email": SELLER["email"], "password": SELLER["password"]})
            assert login.status_code == 302, name
        for kind, options in SETUP[name].get("faults", []):
            sandbox.faults.next(kind, **options)
        for n, item in enumerate(interactions("chopni", name)):
            request, response = item["request"], item["response"]
            uri = urlsplit(request["uri"])
            headers = {k: v[0] for k, v in request["headers"].items()}
            body = request["body"].encode() if request["body"] else None
            answer = http.request(request["method"], f"{sandbox.url}{uri.path}?{uri.query}", headers=headers,
                                  content=body)
            where = f"{name} #{n} {request['method']} {parse_qs(uri.query)['route'][0]}"
            expected = response["body"]["string"]

            assert answer.status_code == response["status"]["code"], where
            assert ("set-cookie" in answer.headers) == ("Set-Cookie" in response["headers"]), where
            if answer.status_code == 302:
                assert _route(answer.headers["location"]) == _route(response["headers"]["Location"][0]), where
                continue
            if not expected:
                assert answer.text == "", where
            elif expected.lstrip().startswith("{"):
                wanted, got = json.loads(expected), answer.json()
                assert same_shape(shape(wanted), shape(got)) == [], where
                assert json_facts(got) == json_facts(wanted), where
            else:
                assert html_facts(answer.text) == html_facts(expected), where


def test_every_setup_names_a_cassette() -> None:
    assert set(SETUP) <= set(names("chopni")), f"setups for missing cassettes: {set(SETUP) - set(names('chopni'))}"


def test_the_structure_check_sees_what_matters() -> None:
    """The comparison is not vacuous: the cassette's order page yields the facts a parser needs."""
    page = interactions("chopni", "status_change")[2]["response"]["body"]["string"]
    facts = html_facts(page)
    assert facts["order_info"] == 1
    assert facts["marketplace_status"] == ["Marketplace order status: PROCESSED"]
    assert facts["order_id"] == [("4211", "563")]
    assert facts["suborder_id"] == ["563"]
    assert facts["status_options"][0] == ("0", "-- Select new status --", True, True)
    assert [v for v, *_ in facts["status_options"][1:]] == ["7", "8", "9", "10", "11", "12", "13"]
    assert facts["history"][-1] == ["13/03/2024", "Tracking: Econt 1234567890", "SHIPPED"]
    assert len(facts["history"]) == 3
    assert facts["totals"] == [["Sub-Total", "€98.60"], ["Shipping", "€13.90"], ["Total", "€112.50"]]
    assert facts["seller_history"] == [""]


def test_seeded_orders_list_with_the_documented_row_shape() -> None:
    """The generator's rows carry the cassette's keys, raw columns and all, so a demo shows real payloads."""
    documented = shape(json.loads(interactions("chopni", "orders_list")[0]["response"]["body"]["string"]))
    with ChopniSandbox(seed=7, orders=25) as sandbox, httpx.Client(base_url=sandbox.url, timeout=5) as http:
        sandbox.add_seller(SELLER["email"], SELLER["password"])
        http.post("/index.php?route=account/login", data={"email": SELLER["email"], "password": SELLER["password"]})
        answer = http.get("/index.php", params={"route": "seller/account-order/getTableData", "iDisplayStart": 0,
                                                 "iDisplayLength": 100})
        assert same_shape(documented, shape(answer.json())) == []
        assert len(answer.json()["aaData"]) == 25
