"""The web page (connector ui) over a store filled by a real pull from the Rozetka sandbox: every view and action
through Starlette's TestClient, on SQLite and PostgreSQL. The same page in a real browser: test_web_browser.py."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

import pytest
from sqlmodel import select

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx is what this project has
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from adapters.rozetka.sandbox import RozetkaSandbox
from connector.cli.app import main
from connector.domain import ShipmentStatus, utcnow
from connector.domain.tracking import CarrierEvent, ParcelReport
from connector.errors import ConfigError
from connector.store.accounts import pause
from connector.store.search import search_orders
from connector.store.shipments import record
from connector.store.tables import AccountStateRow, CommandRow, OrderLineRow, OrderRow, ShipmentRow, StatusHistoryRow
from connector.sync.intake import submit
from connector.sync.pull import pull_account
from connector.sync.push import push_due
from connector.web import create_app
from connector.web.server import PASSWORD_ENV, remote_password
from tests.e2e.test_rozetka_sync import adapter

ACCOUNT = "rozetka-main"
OWNER = "web-test"


@pytest.fixture
def sandbox():
    with RozetkaSandbox(seed=7, orders=12, page_size=20) as s:
        s.add_seller("shop@example.com", "password")
        yield s


def fill(store, sandbox):
    """A real pull: the store holds what the sandbox holds. Returns the adapter, for pushes."""
    a = adapter(sandbox)
    pull_account(store, a)
    return a


def orders(store) -> list[OrderRow]:
    with store.transaction() as session:
        return list(session.exec(select(OrderRow).order_by(OrderRow.id)))


def failed_accept(store, sandbox, a) -> tuple[int, OrderRow]:
    """An accept queued for a new order whose buyer then cancelled at Rozetka: the push fails as a conflict."""
    new = sandbox.add_order(status=1)
    pull_account(store, a)
    with store.transaction() as session:
        order, queued = submit(session, f"{ACCOUNT}:{new}", "accept", {}, requested_by="test")
        command_id = queued.row.id
    sandbox.set_status(new, 45)  # the buyer cancelled while the command waited
    summary = push_due(store, {ACCOUNT: a}, OWNER, settle=timedelta(0))
    assert summary.failed == [command_id]
    return command_id, order


def command(store, command_id: int) -> CommandRow:
    with store.transaction() as session:
        return session.get(CommandRow, command_id)


def client(store, **kw) -> TestClient:
    return TestClient(create_app(store, **kw), base_url="http://127.0.0.1")


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def puts(sandbox, order_id) -> list[int]:
    return [body["status"] for method, path, _, body in sandbox.requests
            if method == "PUT" and path == f"/orders/{order_id}"]


# -- views ------------------------------------------------------------------------------------------------------

def test_the_overview_shows_every_order_the_pull_stored_with_the_accounts_and_counts(store, sandbox):
    fill(store, sandbox)
    stored = orders(store)
    page = client(store).get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert len(stored) == 12
    for o in stored:
        assert f'data-order="{o.id}"' in page.text and f">{o.external_id}</a>" in page.text
    assert 'data-account="rozetka-main"' in page.text and "last good pull" in page.text
    by_status = {}
    for o in stored:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    for status, n in by_status.items():
        assert f'<a href="/?status={status}#orders">{n}</a>' in page.text
    # the carrier whose parcels the pull found, never asked yet
    assert 'data-carrier="novaposhta"' in page.text and "never" in page.text
    # nothing comes from a CDN: the page's scripts are its own
    assert re.findall(r'<script src="([^"]+)"', page.text) == ["/static/htmx.min.js", "/static/app.js"]
    assert client(store).get("/static/htmx.min.js").status_code == 200


def test_each_fragment_renders_alone_and_polls_itself(store, sandbox):
    fill(store, sandbox)
    c = client(store)
    first = orders(store)[0]
    for url, root in [("/fragments/flow", 'id="flow"'), ("/fragments/outbox", 'id="outbox"'),
                      ("/fragments/orders?status=new", 'id="orders-list"'),
                      (f"/fragments/orders/{first.id}", 'id="order"')]:
        r = c.get(url, headers={"HX-Request": "true"})
        assert r.status_code == 200 and root in r.text and "<html" not in r.text, url
        assert 'hx-trigger="every 5s"' in r.text and 'hx-swap="outerHTML"' in r.text
    # the order list polls with its own filters
    assert 'hx-get="/fragments/orders?status=new"' in c.get("/fragments/orders?status=new").text


def test_the_order_list_filters_by_status_account_review_and_text(store, sandbox):
    fill(store, sandbox)
    stored = orders(store)
    c = client(store)
    new = [o for o in stored if o.status == "new"]
    text = c.get("/fragments/orders?status=new").text
    assert sorted(re.findall(r'data-order="(\d+)"', text)) == sorted(str(o.id) for o in new)
    assert 'data-order=' not in c.get("/fragments/orders?account=nobody").text
    assert 'data-order=' not in c.get("/fragments/orders?review=1").text
    target = stored[3]
    assert re.findall(r'data-order="(\d+)"', c.get(f"/fragments/orders?q={target.external_id}").text) == [
        str(target.id)]
    # an unknown status is no filter rather than an error
    assert c.get("/fragments/orders?status=bogus").status_code == 200


def test_search_finds_an_order_by_number_ttn_or_buyer_and_takes_wildcards_literally(store, sandbox):
    fill(store, sandbox)
    with store.transaction() as session:
        shipment = session.exec(select(ShipmentRow)).first()
        by_ttn = session.get(OrderRow, shipment.order_id)
        someone = session.exec(select(OrderRow).where(OrderRow.buyer_name != "")).first()
        ids = lambda **kw: [s.order.id for s in search_orders(session, **kw)]  # noqa: E731
        assert ids(text=shipment.ttn) == [by_ttn.id]
        spaced = " ".join([shipment.ttn[:4], shipment.ttn[4:9], shipment.ttn[9:]])
        assert ids(text=spaced) == [by_ttn.id]  # as written on a waybill
        assert someone.id in ids(text=someone.buyer_name.split()[0].lower())
        digits = re.sub(r"\D", "", someone.buyer_phone)
        assert someone.id in ids(text=f"{digits[-9:-7]} {digits[-7:-4]} {digits[-4:]}")
        assert ids(text="%") == [] and ids(text="_") == []
        assert all(s.order.status == "new" for s in search_orders(session, status="new"))
        assert ids(text=by_ttn.external_id, account="other") == []


def test_an_order_page_shows_lines_parcels_with_the_carriers_timeline_history_and_raw_status(store, sandbox):
    fill(store, sandbox)
    with store.transaction() as session:
        shipment = session.exec(select(ShipmentRow)).first()
        now = utcnow()
        report = ParcelReport(shipment.ttn, ShipmentStatus.IN_TRANSIT, "5", "Прямує до міста одержувача", events=(
            CarrierEvent("1", "Відправлення створено", ShipmentStatus.CREATED, now - timedelta(hours=5), "Київ"),
            CarrierEvent("5", "Прямує до міста одержувача", ShipmentStatus.IN_TRANSIT, now - timedelta(hours=1),
                         "Львів")), updated_at=now - timedelta(hours=1))
        record(session, shipment.id, report, next_check_at=now + timedelta(hours=1))
        order = session.get(OrderRow, shipment.order_id)
        lines = session.exec(select(OrderLineRow).where(OrderLineRow.order_id == order.id)).all()
        history = session.exec(select(StatusHistoryRow).where(StatusHistoryRow.order_id == order.id)).all()
    for ref in (str(order.id), f"{order.account}:{order.external_id}"):
        page = client(store).get(f"/orders/{ref}")
        assert page.status_code == 200
        text = page.text
        assert f'<span class="raw" id="raw-status">{order.marketplace_status}</span>' in text
        assert f"badge st-{order.status}" in text
        for line in lines:
            assert line.name in text
        assert "Відправлення створено" in text and "Прямує до міста одержувача" in text and "Львів" in text
        assert text.count('<span class="actor">') == len(history) >= 1
        assert '<span class="actor">marketplace</span>' in text
        # times: UTC in the markup, converted in the viewer's zone by the page's script
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.\d]*\+00:00" data-style="datetime">', text)


def test_buyer_data_is_hidden_until_asked_for(store, sandbox):
    fill(store, sandbox)
    o = next(o for o in orders(store) if o.buyer_name and o.buyer_phone)
    c = client(store)
    page = c.get(f"/orders/{o.id}").text
    assert o.buyer_name not in page and o.buyer_phone not in page and "Personal data hidden" in page
    shown = c.get(f"/fragments/orders/{o.id}/buyer?show=1", headers={"HX-Request": "true"}).text
    assert o.buyer_name in shown and o.buyer_phone in shown
    hidden = c.get(f"/fragments/orders/{o.id}/buyer").text
    assert o.buyer_name not in hidden
    # nor does a list of search results show it, or any page get cached
    listing = c.get(f"/fragments/orders?q={o.buyer_name.split()[0]}")
    assert f'data-order="{o.id}"' in listing.text and o.buyer_name not in listing.text
    assert listing.headers["cache-control"] == "no-store"


def test_marketplace_text_is_escaped_everywhere(store, sandbox):
    fill(store, sandbox)
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    o = orders(store)[0]
    with store.transaction() as session:
        row = session.get(OrderRow, o.id)
        row.marketplace_status_label = evil
        row.needs_review, row.review_reason = True, evil
        line = session.exec(select(OrderLineRow).where(OrderLineRow.order_id == o.id)).first()
        line.name = evil
        session.add_all([row, line])
    c = client(store)
    for url in ("/", f"/orders/{o.id}", "/fragments/orders?review=1"):
        text = c.get(url).text
        assert "<script>alert" not in text and "<img src=x" not in text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, url
    headers = c.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"


def test_an_unknown_order_or_page_is_a_404_page(store):
    c = client(store)
    assert c.get("/orders/999999").status_code == 404
    assert "no order" in c.get("/orders/rozetka-main:nope").text
    assert c.get("/orders/not-a-ref").status_code == 404
    assert c.get("/nothing-here").status_code == 404


# -- actions ----------------------------------------------------------------------------------------------------

def test_a_failed_command_shows_the_marketplaces_words_and_retry_requeues_it(store, sandbox):
    a = fill(store, sandbox)
    command_id, order = failed_accept(store, sandbox, a)
    failed = command(store, command_id)
    c = client(store)
    page = c.get("/").text
    assert "Needs you" in page and "1 failed command" in page
    assert f'data-command="{command_id}" data-state="failed"' in page
    assert failed.last_error and failed.last_error.replace("'", "&#39;").replace('"', "&#34;") in page
    r = c.post(f"/commands/{command_id}/retry", data={"csrf": csrf(page), "back": "outbox"},
               headers={"HX-Request": "true"})
    assert r.status_code == 200 and f"command {command_id} (accept) is pending again" in r.text
    assert 'id="outbox"' in r.text and "<html" not in r.text
    assert command(store, command_id).state == "pending"
    # Rozetka restored the order; the next push sends the accept, once
    sandbox.set_status(order.external_id, 1)
    assert push_due(store, {ACCOUNT: a}, OWNER, settle=timedelta(0)).done == [command_id]
    assert puts(sandbox, order.external_id) == [26]
    assert command(store, command_id).state == "done"
    assert f'data-command="{command_id}" data-state="done"' in c.get("/fragments/outbox").text


def test_retry_from_the_order_page_answers_with_the_order(store, sandbox):
    a = fill(store, sandbox)
    command_id, order = failed_accept(store, sandbox, a)
    c = client(store)
    page = c.get(f"/orders/{order.id}").text
    assert f'hx-post="/commands/{command_id}/retry"' in page
    r = c.post(f"/commands/{command_id}/retry", data={"csrf": csrf(page), "back": f"order:{order.id}"},
               headers={"HX-Request": "true"})
    assert 'id="order"' in r.text and "is pending again" in r.text and 'data-state="pending"' in r.text


def test_cancel_a_waiting_command_and_refusals_are_said_not_raised(store, sandbox):
    fill(store, sandbox)
    new = next(o for o in orders(store) if o.status == "new")
    with store.transaction() as session:
        _, queued = submit(session, str(new.id), "accept", {}, requested_by="test")
        command_id = queued.row.id
    c = client(store)
    page = c.get("/").text
    assert f'hx-post="/commands/{command_id}/cancel"' in page
    token = csrf(page)
    r = c.post(f"/commands/{command_id}/cancel", data={"csrf": token}, headers={"HX-Request": "true"})
    assert "cancelled" in r.text and command(store, command_id).state == "cancelled"
    again = c.post(f"/commands/{command_id}/cancel", data={"csrf": token}, headers={"HX-Request": "true"})
    assert again.status_code == 200 and "only a pending command can be cancelled" in again.text
    assert 'class="flash error"' in again.text
    # a plain form (no JavaScript): redirected back, or a page that says what went wrong
    plain = c.post(f"/commands/{command_id}/retry", data={"csrf": token}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/"
    refused = c.post(f"/commands/{command_id}/retry", data={"csrf": token})  # pending now: not retried
    assert refused.status_code in (200, 409)
    assert c.post("/commands/99999/retry", data={"csrf": token}, headers={"HX-Request": "true"}).status_code == 200
    assert "no command 99999" in c.post("/commands/99999/retry", data={"csrf": token},
                                        headers={"HX-Request": "true"}).text
    assert c.post(f"/commands/{2**40}/retry", data={"csrf": token}, headers={"HX-Request": "true"}).status_code == 200


def test_an_action_without_the_pages_token_is_refused(store, sandbox):
    a = fill(store, sandbox)
    command_id, _ = failed_accept(store, sandbox, a)
    c = client(store)
    for data in ({}, {"csrf": "guess"}):
        assert c.post(f"/commands/{command_id}/retry", data=data).status_code == 403
    assert command(store, command_id).state == "failed"
    assert c.get(f"/commands/{command_id}/retry").status_code in (404, 405)


def test_a_paused_account_shows_why_and_resume_clears_the_pause(store, sandbox):
    fill(store, sandbox)
    with store.transaction() as session:
        pause(session, ACCOUNT, "login refused for shop@example.com (401)", until=utcnow() + timedelta(hours=1))
    c = client(store)
    page = c.get("/").text
    assert "account rozetka-main is paused" in page and 'data-action="resume"' in page
    assert "shop@example.com" not in page and "[redacted]" in page  # the seller's login is not shown
    r = c.post(f"/accounts/{ACCOUNT}/resume", data={"csrf": csrf(page), "back": "flow"},
               headers={"HX-Request": "true"})
    assert r.status_code == 200 and "resumed" in r.text and 'id="flow"' in r.text
    with store.transaction() as session:
        state = session.get(AccountStateRow, ACCOUNT)
    assert state.paused_until is None and state.paused_reason == ""
    assert "no account" in c.post("/accounts/nobody/resume", data={"csrf": csrf(page)},
                                  headers={"HX-Request": "true"}).text


# -- who may see it -----------------------------------------------------------------------------------------------

def test_a_local_page_refuses_other_host_names(store):
    assert client(store).get("/").status_code == 200
    other = TestClient(create_app(store), base_url="http://attacker.example")
    assert other.get("/").status_code == 400  # a DNS-rebinding name reaches nothing


def test_a_remote_page_needs_the_password(store):
    c = TestClient(create_app(store, password="correct horse battery", allowed_hosts=None),
                   base_url="http://shop.example")
    assert c.get("/").status_code == 401 and "Basic" in c.get("/").headers["www-authenticate"]
    assert c.get("/", auth=("anyone", "wrong")).status_code == 401
    assert c.get("/", auth=("anyone", "correct horse battery")).status_code == 200
    assert c.get("/static/app.js").status_code == 401


def test_binding_beyond_this_machine_needs_allow_remote_and_a_password(monkeypatch, capsys):
    assert remote_password("127.0.0.1", False) is None and remote_password("localhost", False) is None
    assert remote_password("::1", False) is None
    with pytest.raises(ConfigError, match="refusing"):
        remote_password("0.0.0.0", False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        remote_password("0.0.0.0", True)
    monkeypatch.setenv(PASSWORD_ENV, "a long enough password")
    assert remote_password("0.0.0.0", True) == "a long enough password"
    monkeypatch.delenv(PASSWORD_ENV)
    assert main(["ui", "--host", "0.0.0.0"]) == 2
    assert "refusing to serve the page on 0.0.0.0" in capsys.readouterr().err
