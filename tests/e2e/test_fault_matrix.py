"""The fault matrix: every network fault against every job of every marketplace and carrier adapter, through the
real jobs and the real store (SQLite and PostgreSQL).

Each cell injects its fault twice on the job's own route, runs the job, runs it again when the first run failed
(recovery), and then asserts what a user relies on: the store equals the sandbox's truth, nothing is stored twice,
no write reached the remote twice (the sandboxes' own logs), and a run that failed said why. Each cell records
itself (``record_property("matrix", …)``); `python -m tests.matrix` runs the suite's matrix tests and writes
docs/reliability.md from what ran, and a test below keeps that document in step with the cells defined here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from adapters.base import CarrierLogin, HttpPolicy
from adapters.chopni.adapter import ChopniAdapter
from adapters.chopni.client import ChopniClient
from adapters.chopni.sandbox import ChopniSandbox
from adapters.econt.adapter import build as build_econt
from adapters.econt.sandbox import EcontSandbox
from adapters.novaposhta.adapter import build as build_np
from adapters.novaposhta.sandbox import DEFAULT_KEY, NovaPoshtaSandbox
from adapters.promua.adapter import PromAdapter
from adapters.promua.client import PromClient
from adapters.promua.sandbox import PromSandbox
from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import RozetkaSandbox
from adapters.speedy.adapter import build as build_speedy
from adapters.speedy.sandbox import SpeedySandbox
from adapters.ukrposhta.adapter import build as build_ukrposhta
from adapters.ukrposhta.sandbox import DEFAULT_TOKEN, UkrposhtaSandbox
from connector.domain import Shipment, build_command
from connector.domain.tracking import TrackingRules
from connector.store.commands import enqueue
from connector.store.orders import upsert_pulled
from connector.store.tables import CommandRow, OrderRow, ShipmentRow
from connector.sync.pull import pull_account
from connector.sync.push import push_due
from connector.sync.track import track_parcels
from mappings import load
from tests.factories import pulled, raw_of

# fault → its options: fast enough for a test, beyond the policy's patience where that is the point
FAULTS: dict[str, dict] = {
    "HTTP 5xx": {"kind": "server_error"},
    "429 + Retry-After": {"kind": "rate_limit", "retry_after": 0},
    "timeout": {"kind": "slow", "seconds": 0.8},
    "slow drip": {"kind": "drip", "seconds": 0.05},
    "connection reset": {"kind": "reset"},
    "malformed body": {"kind": "malformed"},
}
POLICY = HttpPolicy(timeout=0.5, deadline=0.6, attempts=4, max_total=10, backoff_initial=0.01, backoff_max=0.05)
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


@dataclass
class Outcome:
    runs: int  # how many runs it took (2: the first failed and the second recovered)
    first_error: str  # what the failed run said ("" when the first run survived the fault by retrying)


def _twice(run: Callable[[], object], failed: Callable[[object], str]) -> Outcome:
    """Run a job; if it failed (raised, or its summary says so), run it again: the recovery."""
    try:
        result = run()
        error = failed(result)
    except Exception as exc:  # noqa: BLE001  (a failed run is part of the cell)
        error = str(exc) or type(exc).__name__
    if not error:
        return Outcome(1, "")
    assert error.strip(), "a failed run must say why"
    run()
    return Outcome(2, error)


def _fault(switches, name: str, **where) -> None:
    options = {k: v for k, v in FAULTS[name].items() if k != "kind"}
    switches.next(FAULTS[name]["kind"], times=2, **where, **options)


# -- the jobs -------------------------------------------------------------------------------------------------

def rozetka_pull(store, fault: str) -> Outcome:
    with RozetkaSandbox(seed=21, orders=30, page_size=20) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        client = RozetkaClient(sandbox.url, username="shop@example.com", password="password", policy=POLICY)
        adapter = RozetkaAdapter("rozetka-main", client, load("rozetka"), first_pull=timedelta(days=365))
        _fault(sandbox.faults, fault, path="/orders/search")
        outcome = _twice(lambda: pull_account(store, adapter), lambda s: "")
        with store.reading() as session:
            stored = {o.external_id: o.marketplace_status for o in session.exec(select(OrderRow))}
        assert stored == {str(i): str(sandbox.order(i)["status"]) for i in sandbox.order_ids()}
        return outcome


def rozetka_push(store, fault: str) -> Outcome:
    with RozetkaSandbox(seed=22, orders=0) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        client = RozetkaClient(sandbox.url, username="shop@example.com", password="password", policy=POLICY)
        adapter = RozetkaAdapter("rozetka-main", client, load("rozetka"), first_pull=timedelta(days=365),
                                 settle=0.7)
        order_id = sandbox.add_order(1)
        pull_account(store, adapter)
        _queue(store, str(order_id), "accept")
        _fault(sandbox.faults, fault, path=f"/orders/{order_id}", method="PUT")
        outcome = _twice(lambda: push_due(store, {"rozetka-main": adapter}, "pusher", settle=timedelta(0)),
                         lambda s: _due_again(store, s))
        statuses = [h["status_id"] for h in sandbox.order(order_id)["order_status_history"]]
        assert statuses == [1, 26], "the step reached Rozetka exactly once"
        assert _states(store) == ["done"]
        return outcome


def chopni_pull(store, fault: str) -> Outcome:
    with ChopniSandbox(seed=23, orders=15) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        adapter = _chopni(sandbox)
        _fault(sandbox.faults, fault, path="seller/account-order/getTableData")
        outcome = _twice(lambda: pull_account(store, adapter), lambda s: "")
        with store.reading() as session:
            stored = {o.external_id: o.marketplace_status for o in session.exec(select(OrderRow))}
        assert stored == {str(i): sandbox.order(i)["vendor_status"] for i in sandbox.order_ids()}
        return outcome


def chopni_push(store, fault: str) -> Outcome:
    with ChopniSandbox(seed=24, orders=0) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        adapter = _chopni(sandbox)
        order_id = sandbox.add_order(vendor_status="Pending")
        pull_account(store, adapter)
        _queue(store, str(order_id), "start_processing")
        _fault(sandbox.faults, fault, path="seller/account-order/jxAddHistory")
        outcome = _twice(lambda: push_due(store, {"chopni-main": adapter}, "pusher", settle=timedelta(0)),
                         lambda s: _due_again(store, s))
        assert sandbox.order(order_id)["vendor_status"] == "PROCESSING"
        assert [e["status"] for e in sandbox.emails_sent] == ["PROCESSING"], "one e-mail: the step was sent once"
        assert _states(store) == ["done"]
        return outcome


def _prom(sandbox: PromSandbox) -> PromAdapter:
    client = PromClient(sandbox.base_url, token="prom-token", policy=POLICY, requests_per_second=0)
    return PromAdapter("promua-main", client, load("promua"), first_pull=timedelta(days=365), page_size=20,
                       settle=0.7)


def promua_pull(store, fault: str) -> Outcome:
    with PromSandbox(seed=29, orders=30) as sandbox:
        sandbox.add_token("prom-token")
        adapter = _prom(sandbox)
        _fault(sandbox.faults, fault, path="/api/v1/orders/list")
        outcome = _twice(lambda: pull_account(store, adapter), lambda s: "")
        with store.reading() as session:
            stored = {o.external_id: o.marketplace_status for o in session.exec(select(OrderRow))}
        assert stored == {str(i): sandbox.order(i)["status"] for i in sandbox.order_ids()}
        return outcome


def promua_push(store, fault: str) -> Outcome:
    with PromSandbox(seed=30, orders=0) as sandbox:
        sandbox.add_token("prom-token")
        adapter = _prom(sandbox)
        order_id = sandbox.add_order("pending")
        pull_account(store, adapter)
        _queue(store, str(order_id), "accept")
        _fault(sandbox.faults, fault, path="/api/v1/orders/set_status", method="POST")
        outcome = _twice(lambda: push_due(store, {"promua-main": adapter}, "pusher", settle=timedelta(0)),
                         lambda s: _due_again(store, s))
        applied = [w for w in sandbox.writes_for(order_id) if w["result"] == "applied"]
        assert sandbox.order(order_id)["status"] == "received" and len(applied) == 1, "the step landed once"
        assert _states(store) == ["done"]
        return outcome


def _carrier_job(name: str, start, build, login, ttn_of) -> Callable[..., Outcome]:
    def job(store, fault: str) -> Outcome:
        with start() as sandbox:
            numbers = ttn_of(sandbox)
            with store.transaction() as session:
                for i, ttn in enumerate(numbers):
                    order = pulled(str(700 + i))
                    order.shipments = [Shipment(name, ttn)]  # as the marketplace names it
                    upsert_pulled(session, order, raw_of(order))
            carrier = build(login(sandbox), policy=POLICY)
            _fault(sandbox.faults, fault)
            moment = [datetime.now(UTC)]

            def run():
                summary = track_parcels(store, {carrier.carrier: carrier}, lambda _a: TrackingRules(),
                                        every=timedelta(minutes=30), now=lambda: moment[0])
                moment[0] += timedelta(hours=1)  # the recovery run comes when the parcels are due again
                return summary

            outcome = _twice(run, lambda s: "; ".join(s.errors.values()))
            with store.reading() as session:
                rows = session.exec(select(ShipmentRow)).all()
            assert len(rows) == len(numbers) and all(r.checked_at is not None for r in rows)
            assert all(r.status not in ("created", "unknown") and r.carrier == carrier.carrier for r in rows), \
                [(r.ttn, r.status, r.carrier_status_text) for r in rows]
            return outcome
    return job


def _np_numbers(sandbox):
    return [sandbox.add_parcel(code=5) for _ in range(3)]


def _up_numbers(sandbox):
    return [sandbox.add_parcel(code=20700) for _ in range(3)]


def _econt_numbers(sandbox):
    sandbox.add_login("shop", "secret")
    return [sandbox.add_parcel(steps=2) for _ in range(3)]


def _speedy_numbers(sandbox):
    sandbox.add_login("shop", "secret")
    return [sandbox.add_parcel(steps=2) for _ in range(3)]


JOBS: dict[str, Callable[..., Outcome]] = {
    "Rozetka pull": rozetka_pull,
    "Rozetka push": rozetka_push,
    "Chopni pull": chopni_pull,
    "Chopni push": chopni_push,
    "Prom.ua pull": promua_pull,
    "Prom.ua push": promua_push,
    "Nova Poshta tracking": _carrier_job("novaposhta", lambda: NovaPoshtaSandbox(seed=25),
                                         lambda login, **kw: build_np(login, load("novaposhta"), **kw),
                                         lambda s: CarrierLogin(s.url, api_key=DEFAULT_KEY), _np_numbers),
    "Ukrposhta tracking": _carrier_job("ukrposhta", lambda: UkrposhtaSandbox(seed=26),
                                       lambda login, **kw: build_ukrposhta(login, load("ukrposhta"), **kw),
                                       lambda s: CarrierLogin(s.url + "/status-tracking/0.0.1/",
                                                              api_key=DEFAULT_TOKEN), _up_numbers),
    "Econt tracking": _carrier_job("econt", lambda: EcontSandbox(seed=27),
                                   lambda login, **kw: build_econt(login, load("econt"), **kw),
                                   lambda s: CarrierLogin(s.base_url, username="shop", password="secret"),
                                   _econt_numbers),
    "Speedy tracking": _carrier_job("speedy", lambda: SpeedySandbox(seed=28),
                                    lambda login, **kw: build_speedy(login, load("speedy"), **kw),
                                    lambda s: CarrierLogin(s.base_url, username="shop", password="secret"),
                                    _speedy_numbers),
}


# -- helpers ------------------------------------------------------------------------------------------------

def _chopni(sandbox: ChopniSandbox) -> ChopniAdapter:
    client = ChopniClient(sandbox.url, email="shop@example.com", password="password", policy=POLICY,
                          requests_per_second=0)
    return ChopniAdapter("chopni-main", client, load("chopni"), settle=0.7)


def _queue(store, external_id: str, kind: str) -> None:
    with store.transaction() as session:
        order = session.exec(select(OrderRow).where(OrderRow.external_id == external_id)).one()
        enqueue(session, order, build_command(kind), requested_by="test")


def _due_again(store, summary) -> str:
    """A push that did not finish is due again at once for the recovery run (its backoff is the clock's job)."""
    if summary.done:
        return ""
    with store.transaction() as session:
        session.execute(sa.update(CommandRow).where(CommandRow.state == "pending")
                        .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
        errors = [c.last_error for c in session.exec(select(CommandRow))]
    return "; ".join(e for e in errors if e) or "not done"


def _states(store) -> list[str]:
    with store.reading() as session:
        return [c.state for c in session.exec(select(CommandRow))]


# -- the matrix ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("job", JOBS)
def test_fault_matrix(store, job, fault, record_property):
    outcome = JOBS[job](store, fault)
    with store.reading() as session:
        orders = session.exec(select(func.count()).select_from(OrderRow)).one()
        distinct = session.exec(select(func.count(sa.distinct(OrderRow.external_id)))).one()
    assert orders == distinct, "an order stored twice"
    record_property("matrix", {"job": job, "fault": fault, "store": store.dialect, "runs": outcome.runs,
                               "error": outcome.first_error[:120]})


def test_the_reliability_document_has_a_row_for_every_cell_defined_here():
    """docs/reliability.md is written by `python -m tests.matrix` from a run of these tests; a cell added here
    without regenerating it, or a cell gone, fails this test."""
    text = DOC.read_text(encoding="utf-8")
    cells = set(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|", text, re.M))
    expected = {(job, fault) for job in JOBS for fault in FAULTS}
    assert expected <= cells, f"regenerate docs/reliability.md (python -m tests.matrix): missing {expected - cells}"
