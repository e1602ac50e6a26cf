"""A remote that answers a byte at a time must not hang a pull, and a stopping daemon must not wait for it.

httpx's timeouts bound each read; the drip fault keeps every read short and the answer endless. The HTTP policy's
per-request deadline and its stop event are what end it (adapters/base.py: DeadlineTransport)."""

from __future__ import annotations

import threading
from datetime import timedelta

from adapters.base import HttpPolicy
from adapters.chopni.adapter import ChopniAdapter
from adapters.chopni.client import ChopniClient
from adapters.chopni.sandbox import ChopniSandbox
from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import RozetkaSandbox
from connector.sync.pull import pull_account
from mappings import load


def _run(target) -> tuple[threading.Thread, list]:
    outcome: list = []

    def body() -> None:
        try:
            outcome.append(target())
        except Exception as exc:  # noqa: BLE001  (the test reads what ended the pull)
            outcome.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


def test_a_dripping_answer_fails_the_pull_at_the_request_deadline_and_the_next_pull_recovers(store):
    policy = HttpPolicy(timeout=5, deadline=1.0, attempts=2, max_total=6, backoff_initial=0.01, backoff_max=0.05)
    with RozetkaSandbox(seed=3, orders=5) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        sandbox.faults.next("drip", times=2, path="/orders/search", seconds=0.2)
        client = RozetkaClient(sandbox.url, username="shop@example.com", password="password", policy=policy)
        adapter = RozetkaAdapter("rozetka-main", client, load("rozetka"), first_pull=timedelta(days=365))
        thread, outcome = _run(lambda: pull_account(store, adapter))
        thread.join(timeout=30)
        assert not thread.is_alive(), "the pull still hangs on a dripping answer"
        assert isinstance(outcome[0], Exception) and "deadline" in str(outcome[0])
        assert pull_account(store, adapter).created == 5


def test_a_stop_abandons_a_dripping_answer_at_once(store):
    stop = threading.Event()
    policy = HttpPolicy(timeout=5, deadline=600, attempts=3, max_total=600, backoff_initial=0.01,
                        backoff_max=0.05, stop=stop)
    with ChopniSandbox(seed=3, orders=5) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        sandbox.faults.rate("drip", 1.0, path="seller/account-order/getTableData", seconds=0.5)
        client = ChopniClient(sandbox.url, email="shop@example.com", password="password", policy=policy,
                              requests_per_second=0, sleep=stop.wait)
        adapter = ChopniAdapter("chopni-main", client, load("chopni"), sleep=stop.wait)
        thread, outcome = _run(lambda: pull_account(store, adapter, stop=stop))
        thread.join(timeout=2)
        assert thread.is_alive(), "the drip should still be running before the stop"
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive() and isinstance(outcome[0], Exception)
        assert "shutting down" in str(outcome[0])
