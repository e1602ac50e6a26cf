"""The web page in a real browser (headless Debian Chromium through Selenium) against ``connector ui``'s server,
over a store filled by a real pull from the Rozetka sandbox. The views and actions one by one: test_web.py."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.rozetka.sandbox import RozetkaSandbox
from connector.store import Store
from connector.store.migrate import upgrade
from connector.store.tables import OrderRow, StatusHistoryRow
from connector.sync.push import push_due
from connector.web import UiServer
from tests.e2e.test_web import ACCOUNT, OWNER, command, failed_accept, fill, puts
from tests.screenshots import chromium, missing

WHY = missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"no browser: {WHY}")


@pytest.fixture(scope="module")
def browser():
    driver = chromium(1280, 900, timezone="Asia/Tokyo")  # UTC+9 all year: a converted time is easy to tell
    yield driver
    driver.quit()


@pytest.fixture
def sandbox():
    with RozetkaSandbox(seed=11, orders=15, page_size=20) as s:
        s.add_seller("shop@example.com", "password")
        yield s


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(s)
    yield s
    s.dispose()


@pytest.fixture
def ui(store):
    with UiServer(store) as server:  # 127.0.0.1, any free port: what `connector ui --port 0` serves
        yield server


def wait_for(condition, timeout: float = 15.0, what: str = "the page"):
    from selenium.common.exceptions import StaleElementReferenceException
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except StaleElementReferenceException:  # htmx swapped the fragment while we read it
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_the_page_loads_and_shows_every_order_the_store_has(browser, store, sandbox, ui):
    fill(store, sandbox)
    with store.transaction() as session:
        stored = {o.id: o.external_id for o in session.exec(select(OrderRow))}
    browser.set_window_size(1280, 900)
    browser.get(ui.url)
    rows = wait_for(lambda: css(browser, "tr[data-order]"), what="the order list")
    assert {int(r.get_attribute("data-order")) for r in rows} == set(stored)
    links = {a.text for a in css(browser, "tr[data-order] td:first-child a")}
    assert links == set(stored.values())
    assert css(browser, '[data-account="rozetka-main"] .pill')[0].text == "ok"
    # times in the viewer's zone: the script rewrote every <time>, the UTC original kept on hover
    assert wait_for(lambda: browser.find_element("id", "tz").text == "Asia/Tokyo", what="the time zone")
    times = css(browser, "time[datetime]")
    assert times and all(t.get_attribute("data-local") == "1" for t in times)
    assert all(t.get_attribute("title").endswith("UTC") for t in times)
    assert all(t.text != t.get_attribute("title") for t in times)
    # no script failed and nothing was fetched from elsewhere
    entries = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert entries and all(e.startswith(ui.url.rstrip("/")) for e in entries)


def test_a_search_narrows_the_list_without_a_reload(browser, store, sandbox, ui):
    fill(store, sandbox)
    with store.transaction() as session:
        target = session.exec(select(OrderRow).order_by(OrderRow.id)).all()[5]
    browser.get(ui.url)
    wait_for(lambda: len(css(browser, "tr[data-order]")) == 15, what="the order list")
    browser.execute_script("window.__same_page = true")
    css(browser, 'input[name="q"]')[0].send_keys(target.external_id)
    wait_for(lambda: [r.get_attribute("data-order") for r in css(browser, "tr[data-order]")] == [str(target.id)],
             what="the search result")
    assert browser.execute_script("return window.__same_page === true")


def test_an_order_shows_its_timeline_its_raw_status_and_the_buyer_on_request(browser, store, sandbox, ui):
    fill(store, sandbox)
    with store.transaction() as session:
        order = session.exec(select(OrderRow).where(OrderRow.status == "ready_to_ship")).first()
        history = session.exec(select(StatusHistoryRow).where(StatusHistoryRow.order_id == order.id)).all()
    browser.get(ui.url)
    link = wait_for(lambda: [a for a in css(browser, "tr[data-order] a") if a.text == order.external_id])
    link[0].click()
    wait_for(lambda: browser.current_url.endswith(f"/orders/{order.id}"), what="the order page")
    assert css(browser, "#raw-status")[0].text == order.marketplace_status
    assert order.marketplace_status_label in css(browser, ".statuses")[0].text
    entries = css(browser, "ol.history > li")
    assert len(entries) == len(history) >= 1
    assert "MARKETPLACE" in entries[0].text.upper()
    assert css(browser, ".parcel[data-ttn]")  # the pull stored its parcel
    assert order.buyer_name not in browser.page_source
    css(browser, "#show-buyer")[0].click()
    shown = wait_for(lambda: css(browser, '[data-buyer="name"]'), what="the buyer")
    assert shown[0].text == order.buyer_name


def test_a_failed_command_is_retried_by_a_click_and_the_sandbox_gets_it_once(browser, store, sandbox, ui):
    a = fill(store, sandbox)
    command_id, order = failed_accept(store, sandbox, a)
    browser.get(ui.url)
    item = f'#outbox li[data-command="{command_id}"]'
    failed = wait_for(lambda: css(browser, f'{item}[data-state="failed"]'), what="the failed command")
    assert "cancelled" in failed[0].text.lower()  # the marketplace's reason, with its hint
    assert css(browser, f"{item} .hint")
    browser.execute_script("window.__same_page = true")
    css(browser, f'{item} button[data-action="retry"]')[0].click()
    wait_for(lambda: command(store, command_id).state == "pending", what="the command requeued")
    wait_for(lambda: "is pending again" in css(browser, "#outbox")[0].text, what="the page to say so")
    assert css(browser, f'{item}[data-state="pending"]')
    # Rozetka restored the order; the daemon's push sends the accept, once
    sandbox.set_status(order.external_id, 1)
    assert push_due(store, {ACCOUNT: a}, OWNER, settle=timedelta(0)).done == [command_id]
    assert puts(sandbox, order.external_id) == [26]
    # the page catches up by itself (polling), without a reload
    wait_for(lambda: css(browser, f'{item}[data-state="done"]'), timeout=15, what="the live update")
    assert browser.execute_script("return window.__same_page === true")
    assert "Everything is flowing" in css(browser, "#verdict")[0].text or "failed command" not in \
        css(browser, "#verdict")[0].text


def test_on_a_phone_the_page_fits_the_screen(browser, store, sandbox, ui):
    fill(store, sandbox)
    browser.set_window_size(390, 844)
    try:
        browser.get(ui.url)
        wait_for(lambda: css(browser, "tr[data-order]"), what="the order list")
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
        assert not any(e.is_displayed() for e in css(browser, "table.orders .wide"))
    finally:
        browser.set_window_size(1280, 900)
