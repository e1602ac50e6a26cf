"""The Prom.ua adapter against its sandbox, through the real pull job, push job and store, on both stores.

After each run the store must equal the sandbox's truth, and the sandbox's write log must show no step twice.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from adapters.base import HttpPolicy
from adapters.promua.adapter import PromAdapter
from adapters.promua.client import PromClient
from adapters.promua.sandbox import PromSandbox
from connector.domain import build_command
from connector.errors import AuthError
from connector.store.accounts import paused_accounts
from connector.store.commands import enqueue
from connector.store.cursors import read_cursor
from connector.store.tables import CommandRow, OrderRow, ShipmentRow, StatusHistoryRow
from connector.sync.pull import pull_account
from connector.sync.push import push_due
from mappings import load

V = load("promua")
ACCOUNT = "promua-main"
TOKEN = "prom-test-token"
TTN = "20450000000000"


@pytest.fixture
def sandbox():
    with PromSandbox(seed=7, orders=45) as s:
        s.add_token(TOKEN)
        yield s


def adapter(sandbox: PromSandbox, *, timeout: float = 5.0, settle: float = 0.0) -> PromAdapter:
    policy = HttpPolicy(timeout=timeout, attempts=6, max_total=30, backoff_initial=0.01, backoff_max=0.05)
    client = PromClient(sandbox.base_url, token=TOKEN, policy=policy, requests_per_second=0)
    return PromAdapter(ACCOUNT, client, V, first_pull=timedelta(days=365), page_size=20, settle=settle)


def stored(store) -> dict[str, tuple[str, str]]:
    with store.transaction() as session:
        return {o.external_id: (o.marketplace_status, o.status) for o in session.exec(select(OrderRow))}


def truth(sandbox: PromSandbox) -> dict[str, tuple[str, str]]:
    return {str(i): (sandbox.order(i)["status"], V.rule(sandbox.order(i)["status"]).status.value)
            for i in sandbox.order_ids()}


def history(store) -> int:
    with store.transaction() as session:
        return session.exec(select(func.count()).select_from(StatusHistoryRow)).one()


def lists(sandbox: PromSandbox) -> list[str]:
    return [query.get("last_id", "") for _, path, query, _ in sandbox.requests if path.endswith("/orders/list")]


def test_a_full_pull_equals_the_sandbox_and_an_idle_pull_writes_nothing(store, sandbox):
    a = adapter(sandbox)
    first = pull_account(store, a)
    assert (first.created, first.pages) == (45, 3) and first.quarantined == first.unparsed == []
    # custom statuses are the only unmapped ones, each reported
    assert sorted(u.split(": ")[1] for u in first.unmapped) == sorted(
        s for s, _ in truth(sandbox).values() if s.startswith("custom-"))
    assert stored(store) == truth(sandbox)
    assert len(lists(sandbox)) == 3 and lists(sandbox)[0] == ""  # first page without a cursor, then last_id
    with store.transaction() as session:
        assert read_cursor(session, ACCOUNT, "orders") == first.cursor is not None
        totals = {o.external_id: o.total for o in session.exec(select(OrderRow))}
        ttns = {s.ttn for s in session.exec(select(ShipmentRow))}
    from adapters.promua.mapper import parse_price
    assert totals == {str(i): parse_price(sandbox.order(i)["full_price"], "p")[0] for i in sandbox.order_ids()}
    assert ttns == {sandbox.order(i)["delivery_provider_data"]["declaration_number"] for i in sandbox.order_ids()} - {
        None}
    before = history(store)
    idle = pull_account(store, a)
    assert idle.created == idle.updated == 0 and history(store) == before


@pytest.mark.parametrize("kind,options", [
    ("server_error", {}), ("rate_limit", {"retry_after": 0}), ("reset", {}), ("malformed", {}),
    ("slow", {"seconds": 0.3}),
])
def test_a_pull_survives_each_fault(store, sandbox, kind, options):
    sandbox.faults.next(kind, times=2, path="/api/v1/orders/list", **options)
    summary = pull_account(store, adapter(sandbox, timeout=0.2 if kind == "slow" else 5.0))
    assert stored(store) == truth(sandbox) and summary.unparsed == summary.quarantined == []


def test_a_token_prom_no_longer_accepts_pauses_the_account(store, sandbox):
    sandbox.faults.next("expire_token", path="/api/v1/orders/list")
    with pytest.raises(AuthError, match="token"):
        pull_account(store, adapter(sandbox))
    with store.transaction() as session:
        assert ACCOUNT in paused_accounts(session)
    assert stored(store) == {}


def test_a_page_that_ignores_the_cursor_stops_the_scan_and_keeps_the_cursor(store, sandbox):
    sandbox.faults.next("repeat_page", times=5)
    summary = pull_account(store, adapter(sandbox))
    assert any("did not advance" in note for note in summary.notes)
    with store.transaction() as session:
        assert read_cursor(session, ACCOUNT, "orders") is None
    assert len(stored(store)) == 20  # the first page was stored; the window is read again next time


def test_changes_after_a_pull_are_picked_up_by_the_next(store, sandbox):
    a = adapter(sandbox)
    pull_account(store, a)
    new = sandbox.add_order()
    moved = next(i for i in sandbox.order_ids() if sandbox.order(i)["status"] == "pending")
    sandbox.set_status(moved, "canceled", title="На прохання покупця")
    summary = pull_account(store, a)
    assert summary.created == 1 and summary.updated >= 1 and stored(store) == truth(sandbox)
    with store.transaction() as session:
        row = session.exec(select(OrderRow).where(OrderRow.external_id == str(moved))).one()
    assert (row.status, row.cancel_reason) == ("cancelled", "buyer_request") and str(new) in stored(store)


def _enqueue(store, order_id: int, kind: str, **payload) -> None:
    with store.transaction() as session:
        order = session.exec(select(OrderRow).where(OrderRow.external_id == str(order_id))).one()
        enqueue(session, order, build_command(kind, payload), requested_by="test")


def _commands(store) -> list[tuple[str, str, str]]:
    with store.transaction() as session:
        return [(c.kind, c.state, c.last_error or "") for c in session.exec(select(CommandRow).order_by(CommandRow.id))]


def test_accept_ship_complete_are_pushed_with_no_step_twice(store, sandbox):
    order_id = sandbox.add_order()
    a = adapter(sandbox)
    pull_account(store, a)
    steps = (("accept", {}), ("ship", {"ttn": TTN, "carrier": "novaposhta"}), ("complete", {}))
    for kind, payload in steps:
        _enqueue(store, order_id, kind, **payload)
        summary = push_due(store, {ACCOUNT: a}, "pusher", settle=timedelta(0))
        assert len(summary.done) == 1, _commands(store)
    assert [(w["path"], w["result"]) for w in sandbox.writes_for(order_id)] == [
        ("/orders/set_status", "applied"), ("/delivery/save_declaration_id", "applied"),
        ("/orders/set_status", "applied")]
    assert [w["body"].get("status") for w in sandbox.writes_for(order_id)] == ["received", None, "delivered"]
    assert stored(store)[str(order_id)] == ("delivered", "completed")
    with store.transaction() as session:
        [shipment] = session.exec(select(ShipmentRow).join(OrderRow, OrderRow.id == ShipmentRow.order_id)
                                  .where(OrderRow.external_id == str(order_id))).all()
    assert (shipment.carrier, shipment.ttn) == ("novaposhta", TTN)
    # a retried push finds everything done and sends nothing
    assert a.push(build_command("ship", {"ttn": TTN, "carrier": "novaposhta"}), str(order_id)).sent == []
    assert len(sandbox.writes_for(order_id)) == 3


@pytest.mark.parametrize("kind", ["server_error", "reset", "malformed", "rate_limit", "slow"])
def test_a_push_under_faults_sends_each_step_once(sandbox, kind):
    order_id = sandbox.add_order()
    sandbox.faults.next(kind, times=1, path="/api/v1/", method="POST", retry_after=0, seconds=0.4)
    a = adapter(sandbox, timeout=0.2 if kind == "slow" else 5.0, settle=0.6 if kind == "slow" else 0.0)
    a.push(build_command("ship", {"ttn": TTN, "carrier": "novaposhta"}), str(order_id))
    applied = [(w["path"], w["body"].get("status")) for w in sandbox.writes_for(order_id) if w["result"] == "applied"]
    assert applied == [("/delivery/save_declaration_id", None), ("/orders/set_status", "received")]
    order = sandbox.order(order_id)
    assert order["status"] == "received" and order["delivery_provider_data"]["declaration_number"] == TTN


def test_a_refusal_is_a_failed_command_with_proms_words(store, sandbox):
    order_id = sandbox.add_order()
    sandbox.refused_statuses.add("canceled")  # as the 2026 live probe saw
    a = adapter(sandbox)
    pull_account(store, a)
    _enqueue(store, order_id, "cancel", reason="out_of_stock")
    summary = push_due(store, {ACCOUNT: a}, "pusher", settle=timedelta(0))
    assert len(summary.failed) == 1
    [(kind, state, error)] = _commands(store)
    assert (kind, state) == ("cancel", "failed") and "This status value is not allowed" in error
    assert [w["result"] for w in sandbox.writes_for(order_id)] == ["refused: This status value is not allowed"]
    assert stored(store)[str(order_id)] == ("pending", "new")


def test_a_buyer_cancellation_while_the_command_waited_is_a_conflict_and_sends_nothing(store, sandbox):
    order_id = sandbox.add_order()
    a = adapter(sandbox)
    pull_account(store, a)
    _enqueue(store, order_id, "accept")
    sandbox.set_status(order_id, "canceled", title="На прохання покупця")
    summary = push_due(store, {ACCOUNT: a}, "pusher", settle=timedelta(0))
    assert len(summary.failed) == 1 and sandbox.writes_for(order_id) == []
    with store.transaction() as session:
        row = session.exec(select(OrderRow).where(OrderRow.external_id == str(order_id))).one()
    assert row.needs_review
