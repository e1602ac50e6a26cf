"""A history larger than the page cap: read in windows of change time, each under the cap, resumable window by
window (issue 12). The page cap is the adapter's parameter; the sandbox models changed_from/changed_to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from adapters.base import HttpPolicy
from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import KYIV, RozetkaSandbox
from connector.errors import PermanentError, TransientError
from connector.store.cursors import read_cursor
from connector.store.tables import OrderEventRow, OrderRow
from connector.sync.pull import pull_account
from mappings import load

V = load("rozetka")
CAP = 3  # pages per window: 60 orders at 20 a page


@pytest.fixture
def sandbox():
    with RozetkaSandbox(seed=11, orders=400, page_size=20) as s:
        s.add_seller("shop@example.com", "password")
        yield s


def adapter(sandbox: RozetkaSandbox, *, cap: int = CAP, attempts: int = 6) -> RozetkaAdapter:
    policy = HttpPolicy(timeout=5.0, attempts=attempts, max_total=30, backoff_initial=0.01, backoff_max=0.05)
    client = RozetkaClient(sandbox.url, username="shop@example.com", password="password", policy=policy)
    return RozetkaAdapter("rozetka-main", client, V, first_pull=timedelta(days=365), settle=0.0, max_pages=cap)


def searches(sandbox: RozetkaSandbox) -> list[dict[str, str]]:
    return [query for _method, path, query, _ in sandbox.requests if path == "/orders/search"]


def orders_in(store) -> list[str]:
    with store.transaction() as session:
        return list(session.exec(select(OrderRow.external_id)))


def created_events(store) -> int:
    with store.transaction() as session:
        return session.exec(select(func.count()).select_from(OrderEventRow)
                            .where(OrderEventRow.kind == "order.created")).one()


def test_a_history_past_the_page_cap_is_imported_whole_in_windows(store, sandbox):
    summary = pull_account(store, adapter(sandbox))
    ids = orders_in(store)
    assert sorted(ids) == sorted(str(i) for i in sandbox.order_ids()) and len(ids) == 400
    assert summary.created == 400 and summary.problems == [] and summary.notes == []
    asked = searches(sandbox)
    assert all(int(q["page"]) <= CAP for q in asked)  # no window read past the cap
    assert sum("changed_to" in q for q in asked) > 1  # closed windows, then the open one
    assert "changed_to" not in asked[-1]
    assert created_events(store) == 400  # one change-feed event per order: none written twice
    with store.transaction() as session:
        assert read_cursor(session, "rozetka-main", "orders") == summary.cursor is not None
    again = pull_account(store, adapter(sandbox))
    assert again.created == again.updated == 0


def test_an_import_killed_midway_resumes_at_the_window_it_was_in(store, sandbox):
    failing = adapter(sandbox, attempts=2)
    scan = failing.pull

    def fail_later(cursor):  # the scan's own count: the store may lag several pages behind the reader
        for n, page in enumerate(scan(cursor), 1):
            yield page
            if n == 8:  # a few windows in: every search fails from here on (retries used up)
                sandbox.faults.next("server_error", times=1000, path="/orders/search")

    failing.pull = fail_later
    with pytest.raises(TransientError):
        pull_account(store, failing)
    first = set(orders_in(store))
    with store.transaction() as session:
        mark = read_cursor(session, "rozetka-main", "orders")
    assert 0 < len(first) < 400 and mark is not None  # a window's end, stored with that window's last page
    sandbox.faults.clear()
    before = len(searches(sandbox))
    summary = pull_account(store, adapter(sandbox))
    resumed = searches(sandbox)[before:]
    # the resume starts at the stored window (less the lookback), not at the start of the history
    start = datetime.fromisoformat(mark) - timedelta(minutes=5)
    assert resumed[0]["changed_from"] == start.astimezone(KYIV).strftime("%Y-%m-%d %H:%M:%S")
    assert summary.created == 400 - len(first)
    ids = orders_in(store)
    assert sorted(ids) == sorted(str(i) for i in sandbox.order_ids())
    assert created_events(store) == 400


def test_an_order_that_changes_while_its_window_is_read_skips_no_other(sandbox):
    """A closed window loses the order that changed (it moves to the open window); the rows behind it move back a
    place, over a page boundary. The scan sees the count drop and reads those pages again."""
    a = adapter(sandbox)
    read: list[str] = []
    moved = 0
    for page in a.pull(None):
        read += [p.external_id for p in page.orders]
        last = searches(sandbox)[-1]
        if moved < 3 and "changed_to" in last and last["page"] == "1" and page.orders:
            sandbox.set_status(page.orders[0].external_id, 45)  # the buyer cancels: changed = now
            moved += 1
    assert moved == 3
    assert sorted(read) == sorted(str(i) for i in sandbox.order_ids())
    assert len(read) == len(set(read))  # each order handed out once


def test_more_than_the_cap_within_one_second_fails_loudly_and_keeps_what_was_read(store):
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with RozetkaSandbox(seed=3, orders=0, page_size=20, clock=lambda: moment) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        for _ in range(45):
            sandbox.add_order(status=1)  # all 45 changed in the same second
        with pytest.raises(PermanentError, match="more than 2 pages"):
            pull_account(store, adapter(sandbox, cap=2))
    assert len(orders_in(store)) == 40


