"""Many accounts pulled at once (issue 12, target 6): `run_cycle` with workers and the daemon's pull jobs, against
slow sandboxes (every request answered after 0.2 s).

Concurrency is proven by what the sandboxes see, never by a time: each sandbox counts the requests it is serving at
once, per marketplace, so overlapping pulls show up as more than one request in flight, and the politeness bound on
Chopni as never more than two.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from adapters.base import HttpPolicy
from adapters.chopni.adapter import ChopniAdapter
from adapters.chopni.client import ChopniClient
from adapters.chopni.sandbox import ChopniSandbox
from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import RozetkaSandbox
from connector.config import parse_settings
from connector.daemon import Daemon
from connector.store import Store
from connector.store.accounts import states
from connector.store.tables import OrderRow
from connector.sync.cycle import run_cycle
from connector.sync.gate import PullGate
from mappings import load

LOGIN, PASSWORD = "shop@example.com", "password"
SLOW = 0.2  # seconds every request of every sandbox waits
ROZETKA_ACCOUNTS, CHOPNI_ACCOUNTS = 6, 4
CHOPNI_AT_ONCE = 2
WAIT = 30.0


class InFlight:
    """Requests a marketplace's sandboxes are serving right now, and the most there ever were at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def counted(sandbox: Any, meter: InFlight) -> Any:
    """``sandbox`` (not started yet) with every request it serves counted by ``meter``, slow fault included."""
    base = type(sandbox).handler

    class Counted(base):  # type: ignore[valid-type, misc]
        def serve(self) -> None:
            with meter:
                super().serve()

    sandbox.handler = Counted
    return sandbox


@dataclass
class Fleet:
    """Rozetka and Chopni accounts, each with a sandbox of its own, every request slow."""

    adapters: dict[str, Any] = field(default_factory=dict)
    sandboxes: dict[str, Any] = field(default_factory=dict)
    in_flight: dict[str, InFlight] = field(default_factory=lambda: {"rozetka": InFlight(), "chopni": InFlight()})

    def truth(self) -> set[tuple[str, str]]:
        return {(name, str(i)) for name, s in self.sandboxes.items() for i in s.order_ids()}


def policy() -> HttpPolicy:
    return HttpPolicy(timeout=5.0, attempts=6, max_total=30, backoff_initial=0.01, backoff_max=0.05)


def rozetka(name: str, sandbox: RozetkaSandbox, password: str = PASSWORD) -> RozetkaAdapter:
    client = RozetkaClient(sandbox.url, username=LOGIN, password=password, policy=policy())
    return RozetkaAdapter(name, client, load("rozetka"), first_pull=timedelta(days=365), settle=0.0)


def chopni(name: str, sandbox: ChopniSandbox) -> ChopniAdapter:
    client = ChopniClient(sandbox.url, email=LOGIN, password=PASSWORD, policy=policy(), requests_per_second=0)
    return ChopniAdapter(name, client, load("chopni"), settle=0.0)


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    fleet = Fleet()
    with ExitStack() as stack:
        for i in range(ROZETKA_ACCOUNTS):
            sandbox = counted(RozetkaSandbox(seed=100 + i, orders=6, page_size=3), fleet.in_flight["rozetka"])
            fleet.sandboxes[f"rozetka-{i}"] = sandbox
        for i in range(CHOPNI_ACCOUNTS):
            sandbox = counted(ChopniSandbox(seed=200 + i, orders=3), fleet.in_flight["chopni"])
            fleet.sandboxes[f"chopni-{i}"] = sandbox
        for name, sandbox in fleet.sandboxes.items():
            sandbox.add_seller(LOGIN, PASSWORD)
            stack.enter_context(sandbox)
            sandbox.faults.rate("slow", 1.0, seconds=SLOW)
            build = rozetka if name.startswith("rozetka") else chopni
            fleet.adapters[name] = build(name, sandbox)
        yield fleet
        for adapter in fleet.adapters.values():
            adapter.close()



def stored(store: Store) -> list[tuple[str, str]]:
    with store.reading() as session:
        return [(o.account, o.external_id) for o in session.exec(select(OrderRow))]


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT:.0f} s waiting for {what}")
        time.sleep(0.05)
    return value


# -- run_cycle ----------------------------------------------------------------------------------------------------

def test_accounts_are_pulled_at_once_chopni_two_at_a_time_and_each_order_is_stored_once(store, fleet):
    pages: dict[str, int] = {}
    inside, overlapped = 0, []

    def on_page(name: str, _summary: Any) -> None:  # a live table: it must never be drawn by two threads at once
        nonlocal inside
        inside += 1
        overlapped.append(inside > 1)
        time.sleep(0.005)
        pages[name] = pages.get(name, 0) + 1
        inside -= 1

    result = run_cycle(store, fleet.adapters, workers=8, per_marketplace={"chopni": CHOPNI_AT_ONCE},
                       on_page=on_page, settle=timedelta(0))

    assert result.ok and result.errors == {} and list(result.pulls) == list(fleet.adapters)
    assert fleet.in_flight["rozetka"].peak > 1  # Rozetka accounts overlapped
    assert fleet.in_flight["chopni"].peak == CHOPNI_AT_ONCE  # Chopni's did too, never more than two at once
    rows = stored(store)
    assert len(rows) == len(set(rows)) and set(rows) == fleet.truth()  # every order once, none missing
    assert set(pages) == set(fleet.adapters) and not any(overlapped)


def test_one_failing_account_does_not_stop_the_others(store, fleet):
    fleet.adapters["rozetka-0"] = rozetka("rozetka-0", fleet.sandboxes["rozetka-0"], password="wrong")

    result = run_cycle(store, fleet.adapters, workers=8, per_marketplace={"chopni": CHOPNI_AT_ONCE},
                       settle=timedelta(0))

    assert list(result.errors) == ["rozetka-0"] and "incorrect_username_password" in result.errors["rozetka-0"]
    assert set(result.pulls) == set(fleet.adapters) - {"rozetka-0"}
    rows = stored(store)
    assert len(rows) == len(set(rows))
    assert set(rows) == {(name, ref) for name, ref in fleet.truth() if name != "rozetka-0"}


def test_one_worker_pulls_one_account_after_another(sqlite_store, fleet):
    some = {name: fleet.adapters[name] for name in ("rozetka-0", "rozetka-1", "chopni-0")}
    result = run_cycle(sqlite_store, some, settle=timedelta(0))
    assert result.ok and list(result.pulls) == list(some)
    assert fleet.in_flight["rozetka"].peak == fleet.in_flight["chopni"].peak == 1


def test_a_stop_starts_no_other_pull_and_ends_those_in_hand_between_pages(sqlite_store, fleet):
    stop = threading.Event()
    result = run_cycle(sqlite_store, fleet.adapters, workers=8, per_marketplace={"chopni": CHOPNI_AT_ONCE},
                       stop=stop, on_page=lambda *_: stop.set(), settle=timedelta(0))
    # 6 Rozetka and 2 Chopni accounts were in hand at the first page; the other two Chopni ones never started
    assert {"chopni-2", "chopni-3"}.isdisjoint(result.pulls) and result.track is None
    assert any("stopped between pages" in note for s in result.pulls.values() for note in s.notes)


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="workers must be a whole number of at least 1"):
        run_cycle(None, {}, workers=0)  # type: ignore[arg-type]  (refused before the store is touched)
    with pytest.raises(ValueError, match=r"per_marketplace\['chopni'\] must be a whole number of at least 1"):
        PullGate({"chopni": 0})


def test_the_gate_hands_a_worker_another_marketplace_while_one_is_full():
    gate = PullGate({"chopni": 1})
    waiting = [("c1", "chopni"), ("c2", "chopni"), ("r1", "rozetka")]
    assert gate.take(waiting, lambda item: item[1]) == ("c1", "chopni")
    assert gate.take(waiting, lambda item: item[1]) == ("r1", "rozetka")  # c2 waits for c1's slot
    assert not gate.try_enter("chopni") and gate.try_enter("promua")  # promua: not bounded here
    gate.leave("chopni")
    assert gate.take(waiting, lambda item: item[1]) == ("c2", "chopni") and waiting == []
    assert gate.take(waiting, lambda item: item[1]) is None


# -- the daemon ---------------------------------------------------------------------------------------------------

def test_the_daemon_pulls_accounts_at_once_and_keeps_chopni_to_its_bound(store, fleet):
    settings = parse_settings({
        "store": {"url": store.url},
        "schedule": {"pull_every": "1h", "track_every": "1h"},  # one pull each, asked for below
        "daemon": {"health_port": None, "pull_workers": 8, "pulls_per_marketplace": {"chopni": CHOPNI_AT_ONCE}},
    })
    daemon = Daemon(settings, store, adapters=dict(fleet.adapters), carriers={})

    def all_pulled() -> bool:
        with store.reading() as session:
            done = states(session)
        return all(done.get(name) and done[name].last_pull_ok_at for name in fleet.adapters)

    daemon.start()
    try:
        daemon.pull_now()  # every account at once, not half a second apart
        wait_for(all_pulled, "every account's pull")
    finally:
        daemon.shutdown(wait=True)
    fleet.adapters.clear()  # the daemon closed them

    assert fleet.in_flight["rozetka"].peak > 1
    assert fleet.in_flight["chopni"].peak == CHOPNI_AT_ONCE
    rows = stored(store)
    assert len(rows) == len(set(rows)) and set(rows) == fleet.truth()
