"""The Chopni sandbox's rules, one at a time: sessions and login, the orders list, the order page, jxAddHistory,
messages, seeding and every fault."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import lxml.html
import pytest

from adapters.chopni.sandbox import (ERROR_APPROVED, ERROR_ATTEMPTS, ERROR_LOGIN, ChopniSandbox, main)

USER, PASSWORD = "shop@example.com", "password"
IDS = {"Pending": 21, "PROCESSING": 4, "SHIPPED": 17, "COMPLETE": 9, "refunded": 30, "Cancelled": 2, "Failed": 12}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Panel:
    """A browser on the seller panel: one cookie jar."""

    def __init__(self, sandbox: ChopniSandbox) -> None:
        self.sandbox = sandbox
        self.http = httpx.Client(base_url=sandbox.url, timeout=5)

    def get(self, route: str, **params: Any) -> httpx.Response:
        return self.http.get("/index.php", params={"route": route, **params})

    def post(self, route: str, data: dict[str, Any]) -> httpx.Response:
        return self.http.post("/index.php", params={"route": route}, data=data)

    def login(self, email: str = USER, password: str = PASSWORD) -> httpx.Response:
        return self.post("account/login", {"email": email, "password": password})

    def table(self, **params: Any) -> dict[str, Any]:
        answer = self.get("seller/account-order/getTableData", **params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def page(self, order_id: int) -> Any:
        answer = self.get("seller/account-order/viewOrder", order_id=order_id)
        assert answer.status_code == 200
        return lxml.html.fromstring(answer.text)

    def history(self, order_id: int) -> list[list[str]]:
        table = self.page(order_id).xpath("//select[@name='order_status']/ancestor::table[1]")[0]
        return [[" ".join(td.text_content().split()) for td in tr.findall("td")] for tr in table.xpath("./tbody/tr")]

    def add_history(self, **form: Any) -> httpx.Response:
        return self.post("seller/account-order/jxAddHistory", form)

    def send(self, order_id: int, text: str, **extra: Any) -> dict[str, Any]:
        state = self.sandbox.order(order_id)
        form = {"order_id": order_id, "suborder_id": state["suborder_id"], "seller_id": state["seller_id"],
                "ms-message-text": text, **extra}
        answer = self.post("account/msmessage/jxSendOrderMessage", {k: v for k, v in form.items() if v is not None})
        return answer.json()


def route_of(answer: httpx.Response) -> str | None:
    assert answer.status_code == 302, (answer.status_code, answer.text[:200])
    return parse_qs(urlsplit(answer.headers["location"]).query)["route"][0]


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 3, 13, 9, 0, tzinfo=UTC))  # 11:00 in Sofia


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[ChopniSandbox]:
    with ChopniSandbox(seed=5, clock=clock, status_ids=IDS) as sandbox:
        sandbox.add_seller(USER, PASSWORD)
        yield sandbox


@pytest.fixture
def panel(sandbox: ChopniSandbox) -> Iterator[Panel]:
    panel = Panel(sandbox)
    assert route_of(panel.login()) == "account/account"
    yield panel
    panel.http.close()


@pytest.fixture
def guest(sandbox: ChopniSandbox) -> Iterator[Panel]:
    panel = Panel(sandbox)
    yield panel
    panel.http.close()


def alerts(answer: httpx.Response) -> list[str]:
    doc = lxml.html.fromstring(answer.text)
    return [" ".join(e.text_content().split()) for e in doc.cssselect("div.alert-danger")]


# -- sessions and login ---------------------------------------------------------------------------------------------

def test_the_login_page_opens_a_phpsessid_session(guest: Panel) -> None:
    answer = guest.get("account/login")
    assert answer.status_code == 200
    assert re.fullmatch(r"PHPSESSID=[0-9a-v]{26}; path=/; HttpOnly", answer.headers["set-cookie"])
    assert lxml.html.fromstring(answer.text).cssselect("form input[name=email]")


def test_a_login_redirects_to_the_account_and_opens_the_seller_panel(guest: Panel) -> None:
    assert route_of(guest.login()) == "account/account"
    answer = guest.get("seller/account-order")
    assert answer.status_code == 200
    assert lxml.html.fromstring(answer.text).cssselect("table#mm_orders")


def test_a_wrong_password_rerenders_the_form_with_the_warning(guest: Panel) -> None:
    answer = guest.login(password="wrong")
    assert answer.status_code == 200
    assert alerts(answer) == [ERROR_LOGIN]
    assert route_of(guest.get("seller/account-order")) == "account/login"


def test_an_unknown_email_gets_the_same_warning(guest: Panel) -> None:
    assert alerts(guest.login(email="nobody@example.com")) == [ERROR_LOGIN]


def test_five_failures_lock_the_account_for_an_hour(guest: Panel, clock: Clock) -> None:
    for _ in range(5):
        assert alerts(guest.login(password="wrong")) == [ERROR_LOGIN]
    assert alerts(guest.login()) == [ERROR_ATTEMPTS]  # even the right password
    clock.advance(minutes=59)
    assert alerts(guest.login()) == [ERROR_ATTEMPTS]
    clock.advance(minutes=2)
    assert route_of(guest.login()) == "account/account"


def test_an_account_awaiting_approval_cannot_log_in(sandbox: ChopniSandbox, guest: Panel) -> None:
    sandbox.add_seller("new@example.com", "secret", approved=False)
    assert alerts(guest.login("new@example.com", "secret")) == [ERROR_APPROVED]


def test_an_inactive_seller_is_sent_to_the_profile(sandbox: ChopniSandbox, guest: Panel) -> None:
    sandbox.add_seller("idle@example.com", "secret", active=False)
    assert route_of(guest.login("idle@example.com", "secret")) == "account/account"
    assert route_of(guest.get("seller/account-order")) == "seller/account-profile"
    assert guest.get("seller/account-profile").status_code == 200


def test_a_logged_in_visit_to_the_login_page_goes_to_the_account(panel: Panel) -> None:
    assert route_of(panel.get("account/login")) == "account/account"


@pytest.mark.parametrize("route", ["seller/account-order", "seller/account-order/getTableData",
                                   "seller/account-order/viewOrder", "seller/account-order/jxAddHistory",
                                   "multimerch/account_order/sellerOrderConversation",
                                   "account/msmessage/jxSendOrderMessage"])
def test_every_seller_route_sends_a_guest_to_the_login(guest: Panel, route: str) -> None:
    assert route_of(guest.get(route)) == "account/login"


def test_an_idle_session_expires_after_the_ttl(panel: Panel, clock: Clock) -> None:
    clock.advance(seconds=1700)
    assert panel.get("seller/account-order").status_code == 200  # activity keeps it alive...
    clock.advance(seconds=1700)
    assert panel.get("seller/account-order").status_code == 200
    clock.advance(seconds=1801)  # ...idleness does not
    assert route_of(panel.get("seller/account-order")) == "account/login"
    assert route_of(panel.login()) == "account/account"  # the same cookie logs in again
    assert panel.get("seller/account-order").status_code == 200


def test_expire_sessions_logs_everyone_out(panel: Panel, sandbox: ChopniSandbox) -> None:
    sandbox.expire_sessions()
    answer = panel.get("seller/account-order/getTableData", iDisplayStart=0, iDisplayLength=10)
    assert route_of(answer) == "account/login"
    page = panel.get("account/login")  # the guard left where to go back to in the session
    assert lxml.html.fromstring(page.text).cssselect("input[name=redirect]")


def test_an_expired_session_writes_nothing(panel: Panel, sandbox: ChopniSandbox) -> None:
    order_id = sandbox.add_order()
    sandbox.expire_sessions()
    answer = panel.add_history(suborder_id=sandbox.order(order_id)["suborder_id"], order_comment="hi",
                               order_status=IDS["PROCESSING"])
    assert route_of(answer) == "account/login"
    assert sandbox.order(order_id)["history"] == [] and sandbox.emails_sent == []


def test_a_malformed_session_id_is_refused_as_opencart_does(sandbox: ChopniSandbox) -> None:
    answer = httpx.get(f"{sandbox.url}/index.php?route=account/login", headers={"Cookie": "PHPSESSID=bad!id"})
    assert answer.text == "Error: Invalid session ID!"


def test_logout_ends_the_session(panel: Panel) -> None:
    assert route_of(panel.get("account/logout")) == "account/logout"
    assert route_of(panel.get("seller/account-order")) == "account/login"


# -- the orders list ------------------------------------------------------------------------------------------------

def _ids(table: dict[str, Any]) -> list[int]:
    return [int(row["order_id"]) for row in table["aaData"]]


def test_without_idisplaylength_there_is_no_limit(clock: Clock) -> None:
    with ChopniSandbox(seed=2, orders=130, clock=clock) as sandbox:
        sandbox.add_seller(USER, PASSWORD)
        panel = Panel(sandbox)
        panel.login()
        assert len(panel.table()["aaData"]) == 130
        assert len(panel.table(iDisplayStart=0, iDisplayLength=500)["aaData"]) == 100  # page_size_cap
        assert len(panel.table(iDisplayStart=120)["aaData"]) == 10


def test_pages_are_offset_and_length_and_the_total_is_a_string(panel: Panel, sandbox: ChopniSandbox) -> None:
    made = [sandbox.add_order() for _ in range(12)]
    first = panel.table(iDisplayStart=0, iDisplayLength=10)
    second = panel.table(iDisplayStart=10, iDisplayLength=10)
    assert _ids(first) + _ids(second) == sorted(made)  # no sort parameters: order_id ascending
    assert (first["iTotalRecords"], first["iTotalDisplayRecords"]) == ("12", "12")
    assert first["aaData"][0]["total_rows"] == "12" and "total_rows" not in first["aaData"][1]


def test_a_page_past_the_end_is_empty_with_a_zero_total(panel: Panel, sandbox: ChopniSandbox) -> None:
    for _ in range(3):
        sandbox.add_order()
    assert panel.table(iDisplayStart=10, iDisplayLength=10) == {"iTotalRecords": 0, "iTotalDisplayRecords": 0,
                                                                 "aaData": []}


def test_a_negative_length_is_an_sql_error(panel: Panel) -> None:
    assert panel.get("seller/account-order/getTableData", iDisplayStart=0, iDisplayLength=-1).status_code == 500


def _sorted(panel: Panel, column: str, direction: str | None = None) -> list[int]:
    params = {"iSortCol_0": 0, "mDataProp_0": column, "iDisplayStart": 0, "iDisplayLength": 50}
    if direction:
        params["sSortDir_0"] = direction
    return _ids(panel.table(**params))


def test_sorting_by_each_sortable_column(panel: Panel, sandbox: ChopniSandbox, clock: Clock) -> None:
    a = sandbox.add_order(buyer={"firstname": "Zornitsa"}, lines=[{"name": "A", "price": "10.00"}])
    clock.advance(days=-3)
    b = sandbox.add_order(buyer={"firstname": "andrei"}, lines=[{"name": "B", "price": "99.00"}])
    clock.advance(days=1)
    c = sandbox.add_order(buyer={"firstname": "Maria"}, lines=[{"name": "C", "price": "50.00"}])
    assert _sorted(panel, "order_id", "desc") == [c, b, a]
    assert _sorted(panel, "order_id") == [a, b, c]  # no sSortDir_0: ascending
    assert _sorted(panel, "customer_name") == [b, c, a]  # by first name, case-insensitive
    assert _sorted(panel, "date_created", "desc") == [a, c, b]
    assert _sorted(panel, "total_amount", "desc") == [b, c, a]
    assert _sorted(panel, "suborder_status", "desc") == [c, b, a]  # not sortable: falls back to order_id


def _search(panel: Panel, column: str, value: str) -> list[int]:
    columns = ("order_id", "suborder_status", "date_created", "customer_name", "products", "total_amount",
               "view_order")
    params: dict[str, Any] = {"iDisplayStart": 0, "iDisplayLength": 50, "iColumns": 7}
    for n, name in enumerate(columns):
        params[f"mDataProp_{n}"] = name
        params[f"sSearch_{n}"] = value if name == column else ""
    return _ids(panel.table(**params))


def test_per_column_like_filters(panel: Panel, sandbox: ChopniSandbox, clock: Clock) -> None:
    a = sandbox.add_order(buyer={"firstname": "Ivana", "lastname": "Petrova"},
                          lines=[{"name": "Rose oil soap 100 g", "price": "6.50"}], vendor_status="SHIPPED")
    clock.advance(days=-2)
    b = sandbox.add_order(buyer={"firstname": "Petar", "lastname": "Ivanov"},
                          lines=[{"name": "Walnut board", "price": "45.00"}])
    assert _search(panel, "customer_name", "ivan") == [a]  # the first name only, case-insensitive
    assert _search(panel, "products", "SOAP") == [a]
    assert _search(panel, "products", "w_lnut%board") == [b]  # SQL wildcards
    assert _search(panel, "order_id", str(b)) == [b]
    assert _search(panel, "date_created", "2024-03-11") == [b]  # the UI sends YYYY-MM-DD
    assert _search(panel, "total_amount", "38.25") == [b]  # the raw net amount, not the formatted total
    assert _search(panel, "suborder_status", "SHIPPED") == [a, b]  # no status filter
    assert _search(panel, "view_order", "x") == [a, b]


def test_the_list_shows_only_this_sellers_orders(panel: Panel, sandbox: ChopniSandbox) -> None:
    other = sandbox.add_seller("other@example.com", "x")
    mine = sandbox.add_order()
    sandbox.add_order(seller_id=other)
    assert _ids(panel.table()) == [mine]


def test_rows_carry_the_documented_keys_and_the_raw_columns(panel: Panel, sandbox: ChopniSandbox) -> None:
    order_id = sandbox.add_order(vendor_status="SHIPPED", marketplace_status="COD", shipping="5.90",
                                 lines=[{"name": "Soap", "price": "10.00", "quantity": 2}])
    row = panel.table()["aaData"][0]
    state = sandbox.order(order_id)
    assert all(isinstance(v, str) for v in row.values())
    assert row["suborder_status"] == "SHIPPED"
    assert row["order_status_id"] == "18"  # the marketplace status id (COD)
    assert row["suborder_id"] == str(state["suborder_id"]) and row["seller_id"] == str(state["seller_id"])
    assert row["total"] == "25.9000"  # the buyer's whole order
    assert row["total_amount"] == "€22.90"  # the seller's net (20.00 - 15 %) + shipping
    assert row["date_created"] == "13/03/2024"
    assert row["customer_name"].endswith(f"({state['buyer']['email']})")
    products = lxml.html.fromstring(f"<div>{row['products']}</div>")
    assert [e.text_content() for e in products.cssselect("span.name")] == ["2 x Soap"]
    assert [e.text_content() for e in products.cssselect("span.total")] == ["€17.00"]
    links = lxml.html.fromstring(f"<div>{row['view_order']}</div>").cssselect("a")
    assert [a.get("class") for a in links] == ["icon-view", "icon-invoice"]


def test_the_marketplace_layer_moves_date_modified_the_vendor_layer_does_not(
        panel: Panel, sandbox: ChopniSandbox, clock: Clock) -> None:
    order_id = sandbox.add_order(marketplace_status="Pending")
    clock.advance(minutes=10)
    sandbox.set_vendor_status(order_id, "PROCESSING")
    assert panel.table()["aaData"][0]["date_modified"] == "2024-03-13 11:00:00"
    clock.advance(minutes=10)
    sandbox.set_marketplace_status(order_id, "Payment Confirmed")
    row = panel.table()["aaData"][0]
    assert (row["order_status_id"], row["date_modified"]) == ("17", "2024-03-13 11:20:00")


def test_json_comes_php_encoded_and_as_text_html(panel: Panel, sandbox: ChopniSandbox) -> None:
    sandbox.add_order(buyer={"firstname": "Георги"})
    answer = panel.get("seller/account-order/getTableData")
    assert answer.headers["content-type"].startswith("text/html")
    assert "\\u0413" in answer.text and "\\/" in answer.text and "€" not in answer.text


# -- the order page -------------------------------------------------------------------------------------------------

def test_an_order_that_is_not_ours_redirects_to_the_list(panel: Panel, sandbox: ChopniSandbox) -> None:
    other = sandbox.add_seller("other@example.com", "x")
    theirs = sandbox.add_order(seller_id=other)
    assert route_of(panel.get("seller/account-order/viewOrder", order_id=theirs)) == "seller/account-order"
    assert route_of(panel.get("seller/account-order/viewOrder", order_id=999999)) == "seller/account-order"


def test_the_page_offers_this_installations_ids_and_preselects_none(panel: Panel, sandbox: ChopniSandbox) -> None:
    order_id = sandbox.add_order(vendor_status="SHIPPED", marketplace_status="PROCESSED")
    doc = panel.page(order_id)
    options = doc.cssselect("select[name=order_status] option")
    assert [(o.get("value"), o.text_content()) for o in options[1:]] == sorted(
        ((str(v), k) for k, v in IDS.items()), key=lambda kv: int(kv[0]))
    assert options[0].get("value") == "0" and options[0].get("selected") and options[0].get("disabled")
    assert not any(o.get("selected") for o in options[1:])
    text = " ".join(doc.text_content().split())
    state = sandbox.order(order_id)
    assert f"Order ID: #{order_id}-{state['suborder_id']}" in text
    assert "Marketplace order status: PROCESSED" in text
    assert doc.cssselect("input[name=suborder_id]")[0].get("value") == str(state["suborder_id"])


def test_a_new_order_has_the_placeholder_instead_of_history(panel: Panel, sandbox: ChopniSandbox) -> None:
    order_id = sandbox.add_order()
    assert panel.history(order_id) == []
    assert "There is no history for this order yet!" in panel.get("seller/account-order/viewOrder",
                                                                  order_id=order_id).text


def test_a_completed_paid_order_shows_balance_entries(panel: Panel, sandbox: ChopniSandbox) -> None:
    order_id = sandbox.add_order(vendor_status="COMPLETE", lines=[{"name": "Mug", "price": "20.00"}],
                                 shipping="5.00")
    assert [t[1:] for t in sandbox.order(order_id)["transactions"]] == [
        ("Sale: Mug (-€3.00 commission)", "17.00"), (f"Shipping: {sandbox.order(order_id)['shipping_method']}",
                                                     "5.00")]
    table = _panel_table(panel.page(order_id), "fa-money")
    assert len(table.xpath("./tbody/tr")) == 2


def _panel_table(doc: Any, icon: str) -> Any:
    return next(p for p in doc.cssselect("div.panel") if p.cssselect(f"i.{icon}")).cssselect("table")[0]


# -- jxAddHistory ---------------------------------------------------------------------------------------------------

@pytest.fixture
def order(sandbox: ChopniSandbox) -> dict[str, Any]:
    return sandbox.order(sandbox.add_order(vendor_status="PROCESSING"))


def test_both_fields_empty_changes_nothing_and_sends_no_mail(panel: Panel, sandbox: ChopniSandbox,
                                                            order: dict[str, Any]) -> None:
    for form in ({"order_comment": "", "order_status": ""}, {"order_comment": "0", "order_status": "0"}, {}):
        answer = panel.add_history(suborder_id=order["suborder_id"], **form)
        assert (answer.status_code, answer.text) == (200, "")
    assert sandbox.order(order["order_id"])["history"] == order["history"]
    assert sandbox.emails_sent == []


def test_a_missing_suborder_id_is_ignored_silently(panel: Panel, sandbox: ChopniSandbox,
                                                   order: dict[str, Any]) -> None:
    answer = panel.add_history(order_comment="hello", order_status=IDS["SHIPPED"])
    assert (answer.status_code, answer.text) == (200, "")
    assert sandbox.order(order["order_id"])["vendor_status"] == "PROCESSING" and sandbox.emails_sent == []


def test_another_sellers_suborder_is_ignored_silently(panel: Panel, sandbox: ChopniSandbox) -> None:
    other = sandbox.add_seller("other@example.com", "x")
    theirs = sandbox.order(sandbox.add_order(seller_id=other))
    answer = panel.add_history(suborder_id=theirs["suborder_id"], order_comment="mine now",
                               order_status=IDS["SHIPPED"])
    assert (answer.status_code, answer.text) == (200, "")
    assert sandbox.order(theirs["order_id"])["history"] == [] and sandbox.emails_sent == []


def test_a_status_change_adds_a_row_dated_today_and_mails_the_buyer(panel: Panel, sandbox: ChopniSandbox,
                                                                    order: dict[str, Any], clock: Clock) -> None:
    clock.advance(days=1)
    panel.login()  # a day idle: the session is long gone
    answer = panel.add_history(suborder_id=order["suborder_id"], order_comment="Tracking: Econt 1057123456",
                               order_status=IDS["SHIPPED"])
    assert (answer.status_code, answer.text) == (200, "")
    assert panel.history(order["order_id"])[-1] == ["14/03/2024", "Tracking: Econt 1057123456", "SHIPPED"]
    assert sandbox.emails_sent == [{"order_id": order["order_id"], "status": "SHIPPED",
                                    "comment": "Tracking: Econt 1057123456"}]
    assert panel.table()["aaData"][0]["suborder_status"] == "SHIPPED"


@pytest.mark.parametrize("status", ["0", "", None])
def test_a_comment_without_a_status_takes_the_marketplace_orders_status_id_as_stock_multimerch_does(
        panel: Panel, sandbox: ChopniSandbox, order: dict[str, Any], status: str | None) -> None:
    """Stock jxAddHistory "keeps the current status" by reading getSuborders' SELECT * over ms_suborder LEFT JOIN
    order, where the order's order_status_id (15, PROCESSED) overwrites the suborder's: the vendor status is lost."""
    form = {"suborder_id": order["suborder_id"], "order_comment": "Packed with care."}
    if status is not None:
        form["order_status"] = status
    panel.add_history(**form)
    state = sandbox.order(order["order_id"])
    assert state["marketplace_status_id"] == 15 and state["vendor_status_id"] == 15
    # 15 is no vendor status here, so the panel shows the store's default order status name in its place
    assert state["vendor_status"] == "Pending" != order["vendor_status"]
    assert state["history"][-1][1:] == ("Packed with care.", "Pending")
    assert sandbox.emails_sent == [{"order_id": order["order_id"], "status": "Pending",
                                    "comment": "Packed with care."}]


def test_a_comment_with_the_current_status_named_keeps_it(panel: Panel, sandbox: ChopniSandbox,
                                                          order: dict[str, Any]) -> None:
    panel.add_history(suborder_id=order["suborder_id"], order_comment="Packed with care.",
                      order_status=IDS["PROCESSING"])
    assert sandbox.order(order["order_id"])["vendor_status"] == "PROCESSING"


def test_a_backwards_move_is_written_there_are_no_transition_rules(panel: Panel, sandbox: ChopniSandbox) -> None:
    order_id = sandbox.add_order(vendor_status="COMPLETE")
    suborder_id = sandbox.order(order_id)["suborder_id"]
    panel.add_history(suborder_id=suborder_id, order_comment="", order_status=IDS["Pending"])
    assert sandbox.order(order_id)["vendor_status"] == "Pending"
    assert panel.history(order_id)[-1][2] == "Pending"
    assert len(sandbox.emails_sent) == 1


def test_an_unknown_status_id_is_written_and_shown_as_the_default_order_status(
        panel: Panel, sandbox: ChopniSandbox, order: dict[str, Any]) -> None:
    panel.add_history(suborder_id=order["suborder_id"], order_comment="oops", order_status="999")
    state = sandbox.order(order["order_id"])
    assert state["vendor_status_id"] == 999
    assert state["vendor_status"] == "Pending"  # the marketplace's default status name stands in
    assert panel.table()["aaData"][0]["suborder_status"] == "Pending"


def test_a_blind_retry_writes_a_second_row_and_a_second_mail(panel: Panel, sandbox: ChopniSandbox,
                                                            order: dict[str, Any]) -> None:
    form = {"suborder_id": order["suborder_id"], "order_comment": "Tracking: Speedy 61234567890",
            "order_status": IDS["SHIPPED"]}
    panel.add_history(**form)
    panel.add_history(**form)
    assert [row[2] for row in panel.history(order["order_id"])].count("SHIPPED") == 2
    assert len(sandbox.emails_sent) == 2


def test_set_vendor_status_is_a_sellers_hand_change(sandbox: ChopniSandbox, order: dict[str, Any]) -> None:
    sandbox.set_vendor_status(order["order_id"], "SHIPPED", "Tracking: Econt 1057000000")
    assert sandbox.order(order["order_id"])["history"][-1][1:] == ("Tracking: Econt 1057000000", "SHIPPED")
    assert sandbox.emails_sent == [{"order_id": order["order_id"], "status": "SHIPPED",
                                    "comment": "Tracking: Econt 1057000000"}]


def test_comments_keep_their_lines_and_markup_is_escaped(panel: Panel, sandbox: ChopniSandbox,
                                                         order: dict[str, Any]) -> None:
    panel.add_history(suborder_id=order["suborder_id"], order_comment="<b>one</b>\ntwo & three")
    answer = panel.get("seller/account-order/viewOrder", order_id=order["order_id"])
    assert "&lt;b&gt;one&lt;/b&gt;<br />\ntwo &amp; three" in answer.text


# -- messages -------------------------------------------------------------------------------------------------------

def test_a_message_is_stored_and_shown_in_the_conversation(panel: Panel, sandbox: ChopniSandbox,
                                                           order: dict[str, Any]) -> None:
    fragment = panel.get("multimerch/account_order/sellerOrderConversation", order_id=order["order_id"],
                         seller_id=order["seller_id"]).text
    assert "Start a new conversation with customer" in fragment
    answer = panel.send(order["order_id"], "  Your parcel is on its way.\n")
    assert answer == {"success": "Your message has been successfully sent", "order_id": str(order["order_id"])}
    assert [m["text"] for m in sandbox.order(order["order_id"])["messages"]] == ["Your parcel is on its way."]
    doc = lxml.html.fromstring(panel.get("multimerch/account_order/sellerOrderConversation",
                                         order_id=order["order_id"], seller_id=order["seller_id"]).text)
    message = doc.cssselect("div.ms-message")[0]
    assert "seller" in message.get("class").split()
    assert message.cssselect("div.body")[0].text_content().strip() == "Your parcel is on its way."
    form = doc.cssselect(f"form#ms-message-form{order['suborder_id']}")[0]
    assert {i.get("name"): i.get("value") for i in form.cssselect("input[type=hidden]")} == {
        "order_id": str(order["order_id"]), "suborder_id": str(order["suborder_id"]),
        "seller_id": str(order["seller_id"])}
    assert sandbox.emails_sent == []  # messages are not status e-mails


def test_message_length_rules(panel: Panel, sandbox: ChopniSandbox, order: dict[str, Any]) -> None:
    assert panel.send(order["order_id"], " \n\t") == {"errors": ["Please fill in all fields"]}
    assert panel.send(order["order_id"], "x" * 2001) == {"errors": ["Message cannot be longer than 2000 characters"]}
    assert "success" in panel.send(order["order_id"], "x" * 2000)
    assert len(sandbox.order(order["order_id"])["messages"]) == 1


def test_a_message_needs_its_fields_and_the_right_seller(panel: Panel, order: dict[str, Any]) -> None:
    form_error = "Error occurred when submitting the form. Please contact the store owner for more information."
    assert panel.send(order["order_id"], "hi", suborder_id=None) == {"errors": [form_error]}
    assert panel.send(order["order_id"], "hi", seller_id=1) == {"errors": [form_error]}


# -- status ids and seeding -----------------------------------------------------------------------------------------

def test_status_ids_differ_between_installations() -> None:
    one, two = ChopniSandbox(seed=1).status_ids, ChopniSandbox(seed=2).status_ids
    assert set(one) == set(two) == set(IDS)
    assert one != two
    assert len(set(one.values())) == 7
    assert ChopniSandbox(seed=1).status_ids == one  # the same seed, the same ids


def test_given_status_ids_must_name_every_status() -> None:
    with pytest.raises(ValueError, match="lacks"):
        ChopniSandbox(status_ids={"Pending": 1})


def test_seeded_orders_follow_the_manuals_flow(clock: Clock) -> None:
    sandbox = ChopniSandbox(seed=11, orders=60, clock=clock)
    sandbox.add_seller(USER, PASSWORD)
    flow = ["PROCESSING", "SHIPPED", "COMPLETE", "refunded"]
    statuses = set()
    for order_id in sandbox.order_ids():
        state = sandbox.order(order_id)
        statuses.add(state["vendor_status"])
        steps = [status for _, _, status in state["history"]]
        assert steps == (steps and flow[:len(steps)]) or steps in (["Cancelled"], ["PROCESSING", "Failed"]), steps
        for date, comment, status in state["history"]:
            assert state["date_added"] <= date <= clock.now
            if status == "SHIPPED":
                assert re.fullmatch(r"Tracking: (Econt 105\d{10}|Speedy 61\d{9})", comment)
        assert 1 <= len(state["lines"]) <= 3
        if state["marketplace_status"] == "Canceled":
            assert state["vendor_status"] == "Cancelled"
    assert {"Pending", "PROCESSING", "SHIPPED", "COMPLETE"} <= statuses


# -- faults ---------------------------------------------------------------------------------------------------------

def test_server_error_answers_5xx_with_html_once(panel: Panel) -> None:
    panel.sandbox.faults.next("server_error", status=502)
    answer = panel.get("seller/account-order")
    assert answer.status_code == 502 and "nginx" in answer.text
    assert panel.get("seller/account-order").status_code == 200


def test_rate_limit_answers_429_with_retry_after(panel: Panel) -> None:
    panel.sandbox.faults.next("rate_limit", retry_after=7)
    answer = panel.get("seller/account-order")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"


def test_reset_drops_the_connection_and_writes_nothing(panel: Panel, sandbox: ChopniSandbox,
                                                       order: dict[str, Any]) -> None:
    sandbox.faults.next("reset")
    with pytest.raises(httpx.TransportError):
        panel.add_history(suborder_id=order["suborder_id"], order_comment="x", order_status=IDS["SHIPPED"])
    assert sandbox.order(order["order_id"])["vendor_status"] == "PROCESSING" and sandbox.emails_sent == []


def test_malformed_cuts_an_html_page_in_half(panel: Panel, order: dict[str, Any]) -> None:
    whole = panel.get("seller/account-order/viewOrder", order_id=order["order_id"]).text
    panel.sandbox.faults.next("malformed")
    cut = panel.get("seller/account-order/viewOrder", order_id=order["order_id"])
    assert cut.status_code == 200 and len(cut.content) == len(whole.encode()) // 2
    assert "</html>" not in cut.text


def test_malformed_cuts_a_json_body_and_the_write_still_happens(panel: Panel, sandbox: ChopniSandbox,
                                                                order: dict[str, Any]) -> None:
    sandbox.faults.next("malformed", path="account/msmessage")
    answer = panel.post("account/msmessage/jxSendOrderMessage",
                        {"order_id": order["order_id"], "suborder_id": order["suborder_id"],
                         "seller_id": order["seller_id"], "ms-message-text": "hello"})
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)
    assert len(sandbox.order(order["order_id"])["messages"]) == 1


def test_slow_answers_late_but_normally(panel: Panel) -> None:
    panel.sandbox.faults.next("slow", seconds=0.2)
    started = time.monotonic()
    assert panel.get("seller/account-order").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_expire_token_ends_every_session(panel: Panel) -> None:
    panel.sandbox.faults.next("expire_token")
    assert route_of(panel.get("seller/account-order")) == "account/login"
    assert route_of(panel.login()) == "account/account"


def test_a_fault_with_a_path_spares_other_routes(panel: Panel, sandbox: ChopniSandbox) -> None:
    sandbox.faults.next("server_error", path="index.php?route=seller/account-order/getTableData")
    assert panel.get("seller/account-order").status_code == 200
    assert panel.get("seller/account-order/getTableData").status_code >= 500


def test_a_fault_with_a_method_spares_other_methods(panel: Panel, sandbox: ChopniSandbox,
                                                    order: dict[str, Any]) -> None:
    sandbox.faults.next("server_error", method="POST")
    assert panel.get("seller/account-order").status_code == 200
    assert panel.add_history(suborder_id=order["suborder_id"], order_comment="x").status_code >= 500


def test_a_rate_of_one_hits_every_request_until_cleared(panel: Panel) -> None:
    panel.sandbox.faults.rate("rate_limit", 1.0)
    assert [panel.get("seller/account-order").status_code for _ in range(3)] == [429] * 3
    panel.sandbox.faults.clear()
    assert panel.get("seller/account-order").status_code == 200


@pytest.mark.parametrize("kind", ["earthquake", "repeat_page"])
def test_an_unknown_fault_kind_is_refused(sandbox: ChopniSandbox, kind: str) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.faults.next(kind)


def test_every_request_is_recorded_with_route_query_and_form(panel: Panel, sandbox: ChopniSandbox) -> None:
    panel.get("seller/account-order/getTableData", iDisplayStart=0)
    assert sandbox.requests[0] == ("POST", "account/login", {"route": "account/login"},
                                   {"email": USER, "password": PASSWORD})
    assert sandbox.requests[-1] == ("GET", "seller/account-order/getTableData",
                                    {"route": "seller/account-order/getTableData", "iDisplayStart": "0"}, {})


def test_the_command_line_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--orders" in out and "--email" in out and "--fault" in out
