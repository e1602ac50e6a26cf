"""The rest of the fault matrix: the store unavailable, a session expiring mid-pagination, the marketplace moving
an order while a command waits. Each test records its cell (tests/matrix.py writes docs/reliability.md)."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from adapters.base import HttpPolicy
from adapters.chopni.adapter import ChopniAdapter
from adapters.chopni.client import ChopniClient
from adapters.chopni.sandbox import ChopniSandbox
from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import RozetkaSandbox
from connector.domain import build_command
from connector.errors import StoreError
from connector.store import Store
from connector.store.commands import enqueue
from connector.store.tables import CommandRow, OrderRow
from connector.sync.pull import pull_account
from connector.sync.push import push_due
from mappings import load

POLICY = HttpPolicy(timeout=2, attempts=4, max_total=10, backoff_initial=0.01, backoff_max=0.05)


def _rozetka(sandbox: RozetkaSandbox) -> RozetkaAdapter:
    client = RozetkaClient(sandbox.url, username="shop@example.com", password="password", policy=POLICY)
    return RozetkaAdapter("rozetka-main", client, load("rozetka"), first_pull=timedelta(days=365), settle=0)


def _chopni(sandbox: ChopniSandbox) -> ChopniAdapter:
    client = ChopniClient(sandbox.url, email="shop@example.com", password="password", policy=POLICY,
                          requests_per_second=0)
    return ChopniAdapter("chopni-main", client, load("chopni"), page_size=5, settle=0)


def _stored(store) -> dict[str, str]:
    with store.reading() as session:
        return {o.external_id: o.marketplace_status for o in session.exec(select(OrderRow))}


def _cell(record_property, job: str, fault: str, store_name: str, runs: int, error: str) -> None:
    record_property("matrix", {"job": job, "fault": fault, "store": store_name, "runs": runs, "error": error[:120]})


def test_a_store_that_refuses_connections_fails_the_pull_visibly_and_the_next_pull_recovers(store,
                                                                                            record_property):
    with RozetkaSandbox(seed=31, orders=12) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        down = Store("postgresql://postgres@127.0.0.1:1/nowhere" if store.dialect == "postgresql"
                     else "sqlite:////nonexistent-directory/store.db")
        with pytest.raises(StoreError) as failed:
            pull_account(down, _rozetka(sandbox))
        assert "check that the database is running" in str(failed.value)
        pull_account(store, _rozetka(sandbox))
        assert _stored(store) == {str(i): str(sandbox.order(i)["status"]) for i in sandbox.order_ids()}
        _cell(record_property, "Rozetka pull", "store refusing connections", store.dialect, 2, failed.value.message)


def test_a_locked_sqlite_store_makes_the_pull_wait_not_fail(tmp_path, record_property):
    from connector.store.migrate import upgrade
    store = Store(f"sqlite:///{tmp_path / 'locked.db'}")
    upgrade(store)
    with RozetkaSandbox(seed=32, orders=12) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another process writing: the store is locked

        def release() -> None:
            time.sleep(1.0)
            holder.execute("COMMIT")
            holder.close()

        threading.Thread(target=release, daemon=True).start()
        summary = pull_account(store, _rozetka(sandbox))
        assert summary.created == 12 and len(_stored(store)) == 12
    store.dispose()
    _cell(record_property, "Rozetka pull", "SQLite store locked", "sqlite", 1, "")


@pytest.mark.parametrize("marketplace", ["Rozetka", "Chopni"])
def test_a_session_expiring_mid_pagination_is_renewed_and_the_scan_completes(store, marketplace,
                                                                             record_property):
    if marketplace == "Rozetka":
        sandbox = RozetkaSandbox(seed=33, orders=45, page_size=20).start()
        sandbox.add_seller("shop@example.com", "password")
        adapter, expire = _rozetka(sandbox), sandbox.expire_tokens
        truth = lambda: {str(i): str(sandbox.order(i)["status"]) for i in sandbox.order_ids()}  # noqa: E731
    else:
        sandbox = ChopniSandbox(seed=33, orders=14).start()
        sandbox.add_seller("shop@example.com", "password")
        adapter, expire = _chopni(sandbox), sandbox.expire_sessions
        truth = lambda: {str(i): sandbox.order(i)["vendor_status"] for i in sandbox.order_ids()}  # noqa: E731
    try:
        pages = 0

        def on_page(_summary) -> None:
            nonlocal pages
            pages += 1
            if pages == 1:
                expire()  # the session dies between the first and the second page

        summary = pull_account(store, adapter, on_page=on_page)
        assert pages >= 2 and summary.problems == [] and _stored(store) == truth()
    finally:
        sandbox.stop()
    _cell(record_property, f"{marketplace} pull", "session expiring mid-pagination", store.dialect, 1, "")


@pytest.mark.parametrize("marketplace", ["Rozetka", "Chopni"])
def test_a_command_whose_order_the_marketplace_moved_meanwhile_fails_visibly_and_sends_nothing(
        store, marketplace, record_property):
    if marketplace == "Rozetka":
        sandbox = RozetkaSandbox(seed=34, orders=0).start()
        sandbox.add_seller("shop@example.com", "password")
        adapter, account = _rozetka(sandbox), "rozetka-main"
        order_id = sandbox.add_order(1)
        kind = "accept"
    else:
        sandbox = ChopniSandbox(seed=34, orders=0).start()
        sandbox.add_seller("shop@example.com", "password")
        adapter, account = _chopni(sandbox), "chopni-main"
        order_id = sandbox.add_order(vendor_status="Pending")
        kind = "start_processing"
    try:
        pull_account(store, adapter)
        with store.transaction() as session:
            order = session.exec(select(OrderRow).where(OrderRow.external_id == str(order_id))).one()
            enqueue(session, order, build_command(kind), requested_by="test")
        writes_before = len(sandbox.requests)
        if marketplace == "Rozetka":
            sandbox.set_status(order_id, 45)  # the buyer cancels before the push
        else:
            sandbox.set_vendor_status(order_id, "Cancelled", "Cancelled at the buyer's request.")
        summary = push_due(store, {account: adapter}, "pusher")
        with store.reading() as session:
            command = session.exec(select(CommandRow)).one()
            flagged = session.exec(select(OrderRow.needs_review)).one()
        writes = [r for r in sandbox.requests[writes_before:]
                  if (r[0] in ("PUT", "POST") and "/orders/" in str(r[1])) or "jxAddHistory" in str(r[1])]
        assert summary.failed == [command.id] and command.state == "failed" and command.last_error
        assert writes == [] and flagged
    finally:
        sandbox.stop()
    _cell(record_property, f"{marketplace} push", "order moved by the marketplace meanwhile", store.dialect, 1,
          command.last_error)


def test_the_store_error_names_no_sql_and_no_parameters(store):
    """What a failed run says goes to logs and /healthz: the driver's words only, never the statement's values."""
    from connector.errors import describe
    exc = sa.exc.DataError("INSERT INTO orders (buyer_name) VALUES (%(n)s)", {"n": "Ivan Petrenko"},
                           Exception("value too long"))
    assert describe(exc) == "Exception: value too long"


def test_a_tracking_run_killed_mid_batch_loses_nothing_and_asks_only_for_what_is_left(store, tmp_path,
                                                                                      record_property):
    """kill -9 while the second batch's answer is on its way: the first batch is committed, the second never was;
    the next run asks only for the parcels still due and stores every carrier event once."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from adapters.novaposhta.sandbox import DEFAULT_KEY, NovaPoshtaSandbox
    from connector.domain import Shipment
    from connector.store.orders import upsert_pulled
    from connector.store.tables import ShipmentEventRow, ShipmentRow
    from tests.factories import pulled, raw_of

    with NovaPoshtaSandbox(seed=41) as np:
        numbers = [np.add_parcel(code=5) for _ in range(150)]
        with store.transaction() as session:
            for i, ttn in enumerate(numbers):
                order = pulled(str(5000 + i))
                order.shipments = [Shipment("novaposhta", ttn)]
                upsert_pulled(session, order, raw_of(order))
        config = tmp_path / "connector.yaml"
        config.write_text(yaml.safe_dump({
            "store": {"url": store.url},
            "accounts": [{"name": "rozetka-main", "marketplace": "rozetka", "base_url": "http://127.0.0.1:9",
                          "username": "shop@example.com", "password_env": "TEST_KILL_PASSWORD"}],
            "carriers": {"novaposhta": {"base_url": np.url, "api_key_env": "TEST_KILL_NP_KEY"}}}))
        env = {**os.environ, "TEST_KILL_NP_KEY": DEFAULT_KEY, "TEST_KILL_PASSWORD": "x"}
        connector = str(Path(sys.executable).with_name("connector"))
        np.faults.next("slow", times=1, seconds=0)  # the first batch passes at once…
        np.faults.next("slow", times=1, seconds=30)  # …the second is still on its way when the kill comes
        proc = subprocess.Popen([connector, "-c", str(config), "track"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(np.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the first batch's transaction commits before the second request goes out
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        np.faults.clear()
        with store.reading() as session:
            checked = session.exec(select(ShipmentRow).where(ShipmentRow.checked_at.is_not(None))).all()
        assert len(checked) == 100, "the first batch was committed whole, the second not at all"
        done = subprocess.run([connector, "-c", str(config), "track", "--json"], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert len(np.requests) == 3, "the second run asked only for the 50 parcels still due"
        with store.reading() as session:
            rows = session.exec(select(ShipmentRow)).all()
            events = session.exec(select(ShipmentEventRow)).all()
        assert all(r.status == "in_transit" for r in rows) and len(events) == 150
    _cell(record_property, "Nova Poshta tracking", "kill -9 mid-run", store.dialect, 2, "(killed)")
