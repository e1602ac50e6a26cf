"""`connector run` as an operator runs it: a real daemon process against the Rozetka sandbox, real signals.

The sandbox runs in this process (a thread); each daemon is a subprocess started through the `connector`
console script with a YAML config in tmp_path. Every wait is bounded, and every daemon still running at the
end of a test is killed, so no test can hang.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import func, select

from adapters.novaposhta.sandbox import DEFAULT_KEY, NovaPoshtaSandbox
from adapters.rozetka.sandbox import RozetkaSandbox
from connector.cli.app import main
from connector.domain import build_command
from connector.store import Store
from connector.store.commands import enqueue
from connector.store.cursors import read_cursor
from connector.store.queries import find_order
from connector.store.tables import AccountStateRow, CommandRow, OrderRow
from mappings import load
from tests.conftest import empty

CONNECTOR = str(Path(sys.executable).with_name("connector"))
ACCOUNT = "rozetka-main"
USERNAME, PASSWORD = "shop@example.com", "password"
PASSWORD_ENV = "TEST_DAEMON_ROZETKA_PASSWORD"
NP_KEY_ENV = "TEST_DAEMON_NOVAPOSHTA_KEY"
V = load("rozetka")
WAIT = 20.0  # the longest any single condition is waited for


# -- helpers -------------------------------------------------------------------------------------------------

def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail (never hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonProcess:
    """One `connector run` subprocess; its stderr (JSON logs) goes to a file the test reads."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log_path = config, port, log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [CONNECTOR, "-c", str(config), "run"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log, env={**os.environ, PASSWORD_ENV: PASSWORD})
        self.base = f"http://127.0.0.1:{port}"
        self.owner: str | None = None

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5.0)

    def health(self) -> tuple[int, dict]:
        response = self.get("/healthz")
        return response.status_code, response.json()

    def wait_up(self) -> DaemonProcess:
        def answers() -> bool:
            assert self.proc.poll() is None, f"the daemon exited ({self.proc.returncode}):\n{self.log_text()}"
            try:
                _, report = self.health()
            except httpx.HTTPError:
                return False
            self.owner = report["owner"]
            return True

        wait_for(answers, f"{self.base}/healthz to answer")
        return self

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when the series does not exist yet)."""
        text = self.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return 0.0

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[str]:
        found = []
        for line in self.log_text().splitlines():
            try:
                found.append(json.loads(line)["event"])
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def daemons(tmp_path) -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons with ``daemons(config, port)``; whatever is still running at the end is killed."""
    started: list[DaemonProcess] = []

    def start(config: Path, port: int) -> DaemonProcess:
        daemon = DaemonProcess(config, port, tmp_path / f"daemon-{len(started)}.log")
        started.append(daemon)
        return daemon.wait_up()

    try:
        yield start
    finally:
        for daemon in started:
            daemon.close()


def write_config(tmp_path: Path, sandbox: RozetkaSandbox, store: Store, *, pull_every: str = "1s",
                 push_every: str = "2s", stale_after: int = 3, name: str = "connector",
                 carriers: dict | None = None, track_every: str = "30m") -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"url": store.url},
        "accounts": [{"name": ACCOUNT, "marketplace": "rozetka", "base_url": sandbox.url,
                      "username": USERNAME, "password_env": PASSWORD_ENV}],
        "carriers": carriers or {},
        "schedule": {"pull_every": pull_every, "push_every": push_every, "track_every": track_every},
        "daemon": {"health_port": port, "stale_after": stale_after, "takeover_wait": "1s"},
        "log": {"format": "json", "level": "info"},
    }))
    return path, port


def make_sandbox(**kw: Any) -> RozetkaSandbox:
    sandbox = RozetkaSandbox(**kw)
    sandbox.add_seller(USERNAME, PASSWORD)
    return sandbox.start()


def cli(capsys, config: Path, *argv: str) -> str:
    """The CLI as a user runs it (in this process: the same entry point as the console script)."""
    code = main(["-c", str(config), *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def stored(store: Store) -> dict[str, tuple[str, str]]:
    with store.transaction() as session:
        return {o.external_id: (o.marketplace_status, o.status) for o in session.exec(select(OrderRow))}


def truth(sandbox: RozetkaSandbox) -> dict[str, tuple[str, str]]:
    return {str(i): (str(sandbox.order(i)["status"]), V.rule(sandbox.order(i)["status"]).status.value)
            for i in sandbox.order_ids()}


def in_sync(store: Store, sandbox: RozetkaSandbox) -> bool:
    return stored(store) == truth(sandbox)


def duplicates(store: Store) -> list[tuple[str, int]]:
    with store.transaction() as session:
        return list(session.exec(select(OrderRow.external_id, func.count()).group_by(OrderRow.external_id)
                                 .having(func.count() > 1)).all())


def cursor(store: Store) -> str | None:
    with store.transaction() as session:
        return read_cursor(session, ACCOUNT, "orders")


def commands(store: Store) -> list[CommandRow]:
    with store.transaction() as session:
        return list(session.exec(select(CommandRow).order_by(CommandRow.id)).all())


def commands_by_order(store: Store) -> dict[str, CommandRow]:
    """External order id → its command (the tests that use it queue one command per order)."""
    query = select(CommandRow, OrderRow.external_id).join(OrderRow, OrderRow.id == CommandRow.order_id)
    with store.transaction() as session:
        return {external_id: command for command, external_id in session.exec(query).all()}


def account_state(store: Store) -> AccountStateRow | None:
    with store.transaction() as session:
        return session.get(AccountStateRow, ACCOUNT)


def puts(sandbox: RozetkaSandbox, order_id: int) -> list[int]:
    return [body["status"] for method, path, _, body in list(sandbox.requests)
            if method == "PUT" and path == f"/orders/{order_id}"]


def requested(sandbox: RozetkaSandbox, method: str, path: str) -> int:
    return sum(1 for m, p, _, _ in list(sandbox.requests) if m == method and p == path)


def history(sandbox: RozetkaSandbox, order_id: int) -> list[int]:
    return [h["status_id"] for h in sandbox.order(order_id)["order_status_history"]]


def expire_leases(store: Store) -> None:
    """Stand-in for the leases running out: the killed daemon's pull lease (5 min, connector/sync/pull.py) and
    its command leases (10 min, LEASE in connector/sync/push.py) would expire by themselves; a test cannot
    wait that long, so the leases are moved into the past, which is all that time would do to them."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(sa.update(CommandRow.__table__).where(CommandRow.__table__.c.state == "in_progress")
                     .values(locked_until=past))
        conn.execute(sa.update(AccountStateRow.__table__).where(AccountStateRow.__table__.c.lease_owner != "")
                     .values(lease_until=past))


def ttn_for(order_id: int) -> str:
    return f"2045{order_id:010d}"[-14:]



# -- 1. lifecycle --------------------------------------------------------------------------------------------

def test_the_daemon_pulls_everything_pushes_a_cli_command_at_once_and_sees_a_buyer_cancellation(
        store, tmp_path, daemons, capsys):
    sandbox = make_sandbox(seed=11, orders=25, page_size=10)
    try:
        accepted, cancelled = sandbox.add_order(1), sandbox.add_order(1)
        # push_every 30 s: a push within a few seconds can only come from the wake-up on a new command
        # (SQLite: the one-second look at the newest command id; PostgreSQL: LISTEN/NOTIFY)
        config, port = write_config(tmp_path, sandbox, store, push_every="30s")
        daemon = daemons(config, port)

        wait_for(lambda: in_sync(store, sandbox), "the first pull to bring in every order")
        assert len(stored(store)) == 27 and cursor(store) is not None
        # the push job's first run (at start) is over, so the next one is due only 30 s from now
        wait_for(lambda: daemon.metric("connector_job_duration_seconds_count", job="push") >= 1,
                 "the first push run")

        queued_at = time.monotonic()
        cli(capsys, config, "order", "accept", f"{ACCOUNT}:{accepted}")
        wait_for(lambda: [c.state for c in commands(store)] == ["done"], "the accept command to be pushed",
                 timeout=10)
        assert time.monotonic() - queued_at < 10  # push_every alone would have waited ~30 s
        assert puts(sandbox, accepted) == [26] and sandbox.order(accepted)["status"] == 26
        wait_for(lambda: stored(store)[str(accepted)] == ("26", V.rule(26).status.value),
                 "the store to show the accepted order")

        sandbox.set_status(cancelled, 45)  # the buyer cancels in the marketplace
        wait_for(lambda: stored(store)[str(cancelled)][0] == "45", "the next pull to bring the cancellation")
        assert stored(store)[str(cancelled)] == ("45", V.rule(45).status.value)
        assert in_sync(store, sandbox) and duplicates(store) == []

        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    finally:
        sandbox.stop()


# -- 2. /healthz and /metrics --------------------------------------------------------------------------------

def test_healthz_and_metrics_report_pulls_and_pushes_and_a_failing_account_turns_unhealthy(
        sqlite_store, tmp_path, daemons, capsys):
    store = sqlite_store
    sandbox = make_sandbox(seed=5, orders=12, page_size=20)
    try:
        new = sandbox.add_order(1)
        config, port = write_config(tmp_path, sandbox, store, pull_every="1s", stale_after=1)
        daemon = daemons(config, port)

        def healthy() -> dict | None:
            status, report = daemon.health()
            account = report["accounts"][ACCOUNT]
            return report if status == 200 and account["ok"] and account["last_pull_ok_at"] else None

        report = wait_for(healthy, "/healthz to answer 200 with a successful pull")
        last_ok = datetime.fromisoformat(report["accounts"][ACCOUNT]["last_pull_ok_at"])
        assert datetime.now(UTC) - last_ok < timedelta(seconds=10) and report["store"] is True

        cli(capsys, config, "order", "accept", f"{ACCOUNT}:{new}")
        wait_for(lambda: [c.state for c in commands(store)] == ["done"], "the push")
        response = daemon.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        assert "connector_orders_pulled_total" in response.text and "connector_pushes_total" in response.text
        assert daemon.metric("connector_orders_pulled_total", account=ACCOUNT, outcome="created") == 13
        assert daemon.metric("connector_pushes_total", account=ACCOUNT, outcome="done") == 1

        sandbox.faults.rate("server_error", 1.0)  # Rozetka answers nothing but 5xx from now on

        def unhealthy() -> dict | None:
            status, report = daemon.health()
            return report if status == 503 and not report["accounts"][ACCOUNT]["ok"] else None

        report = wait_for(unhealthy, "/healthz to report the account not ok")
        assert report["accounts"][ACCOUNT]["last_pull_ok_at"]  # still says when the last good pull was
        wait_for(lambda: "HTTP 5" in daemon.health()[1]["accounts"][ACCOUNT]["last_error"],
                 "the failed pull to be recorded on the account")
        assert daemon.metric("connector_errors_total", account=ACCOUNT, error_class="transient") >= 1

        sandbox.faults.clear()  # Rozetka is back: the account recovers by itself
        wait_for(lambda: healthy() and not daemon.health()[1]["accounts"][ACCOUNT]["last_error"],
                 "/healthz to recover")
    finally:
        sandbox.stop()


def test_the_daemon_tracks_parcels_on_its_schedule_and_reports_it_in_metrics(sqlite_store, tmp_path, daemons):
    store = sqlite_store
    sandbox = make_sandbox(seed=8, orders=0)
    with NovaPoshtaSandbox(seed=8) as np:
        try:
            ttn = np.add_parcel(code=9)
            order_id = sandbox.add_order(status=4)
            sandbox.set_status(order_id, 4, ttn=ttn)
            carriers = {"novaposhta": {"base_url": np.url, "api_key_env": NP_KEY_ENV}}
            config, port = write_config(tmp_path, sandbox, store, carriers=carriers, track_every="1s")
            os.environ[NP_KEY_ENV] = DEFAULT_KEY
            daemon = daemons(config, port)

            def delivered() -> bool:
                with store.reading() as session:
                    order = session.exec(select(OrderRow).where(OrderRow.external_id == str(order_id))).first()
                    return bool(order and order.status == "delivered")

            wait_for(delivered, "the tracking job to move the order to delivered")
            assert daemon.metric("connector_track_requests_total", carrier="novaposhta") >= 1
            assert daemon.metric("connector_last_track_success_timestamp_seconds") > 0
        finally:
            os.environ.pop(NP_KEY_ENV, None)
            sandbox.stop()


# -- 3. signals ----------------------------------------------------------------------------------------------

def test_sigterm_finishes_the_page_in_hand_commits_it_and_exits_0(sqlite_store, tmp_path, daemons):
    store = sqlite_store
    sandbox = make_sandbox(seed=3, orders=15, page_size=5)
    try:
        sandbox.faults.next("slow", times=1, path="/orders/search", seconds=2)
        config, port = write_config(tmp_path, sandbox, store)
        daemon = daemons(config, port)
        wait_for(lambda: requested(sandbox, "GET", "/orders/search") >= 1, "the slow page to be asked for")

        signalled = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
        assert time.monotonic() - signalled < 10
        events = daemon.events()
        assert "signal received: finishing the work in hand" in events and events[-1] == "daemon stopped"
        # the page in hand was written before the exit, and the scan stopped there: the next run reads on
        assert len(stored(store)) == 5 and cursor(store) is None
        assert requested(sandbox, "GET", "/orders/search") == 1
    finally:
        sandbox.stop()


def test_a_second_sigterm_during_a_slow_pull_exits_at_once_with_code_1(sqlite_store, tmp_path, daemons):
    store = sqlite_store
    sandbox = make_sandbox(seed=3, orders=15, page_size=5)
    try:
        sandbox.faults.next("slow", times=1, path="/orders/search", seconds=5)
        config, port = write_config(tmp_path, sandbox, store)
        daemon = daemons(config, port)
        wait_for(lambda: requested(sandbox, "GET", "/orders/search") >= 1, "the slow page to be asked for")

        daemon.signal(signal.SIGTERM)
        time.sleep(0.7)
        assert daemon.alive()  # the first signal waits for the page in hand (which takes 5 s)
        second = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 1
        assert time.monotonic() - second < 2  # at once, not after the slow page
        events = daemon.events()
        assert "second signal: exiting now" in events and "daemon stopped" not in events
        assert stored(store) == {}  # nothing of the page in hand was written
    finally:
        sandbox.stop()


def test_sigterm_during_a_push_finishes_the_command_in_hand_and_gives_the_rest_back(sqlite_store, tmp_path,
                                                                                    daemons):
    store = sqlite_store
    sandbox = make_sandbox(seed=4, orders=5, page_size=20)
    try:
        new = [sandbox.add_order(1) for _ in range(3)]
        config, port = write_config(tmp_path, sandbox, store)
        daemon = daemons(config, port)
        wait_for(lambda: in_sync(store, sandbox), "the first pull")

        sandbox.faults.next("slow", times=1, method="PUT", seconds=2)
        # one transaction, as an ERP writes them, so that one push run leases all three
        with store.transaction() as session:
            for order_id in new:
                enqueue(session, find_order(session, f"{ACCOUNT}:{order_id}"),
                        build_command("ship", {"ttn": ttn_for(order_id)}), requested_by="erp")
        wait_for(lambda: any(m == "PUT" for m, *_ in list(sandbox.requests)), "the first (slow) PUT")
        in_hand = next(int(p.rsplit("/", 1)[1]) for m, p, *_ in list(sandbox.requests) if m == "PUT")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
        assert daemon.events()[-1] == "daemon stopped"

        # the command in hand was carried to its goal and recorded ...
        assert history(sandbox, in_hand) == [1, 26, 61] and sandbox.order(in_hand)["ttn"] == ttn_for(in_hand)
        by_order = commands_by_order(store)
        assert by_order[str(in_hand)].state == "done"
        # ... and the others were given back untouched, their attempt refunded, for the next run
        for order_id in set(new) - {in_hand}:
            command = by_order[str(order_id)]
            assert (command.state, command.attempts, command.locked_by) == ("pending", 0, ""), order_id
            assert puts(sandbox, order_id) == [] and sandbox.order(order_id)["status"] == 1
    finally:
        sandbox.stop()


# -- 4. crash safety -----------------------------------------------------------------------------------------

def test_sigkill_during_a_pull_then_a_restart_leaves_the_store_equal_to_the_sandbox(store, tmp_path, daemons,
                                                                                   record_property):
    sandbox = make_sandbox(seed=21, orders=60, page_size=5)
    try:
        sandbox.faults.next("slow", times=8, path="/orders/search", seconds=0.3)  # 12 pages, the first 8 slow
        config, port = write_config(tmp_path, sandbox, store)
        first = daemons(config, port)
        wait_for(lambda: len(stored(store)) >= 10, "two pages of the first pull")
        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL

        # killed mid-pull: some pages written, no cursor, the lease still names the dead daemon
        assert 10 <= len(stored(store)) < 60 and cursor(store) is None
        assert account_state(store).lease_owner == first.owner
        # the world moves on while the daemon is down
        arrived = sandbox.add_order(1)
        moved = next(i for i in sandbox.order_ids() if sandbox.order(i)["status"] == 3)
        sandbox.set_status(moved, 4)

        expire_leases(store)  # stands in for the dead daemon's 5-minute pull lease running out
        second = daemons(config, port)
        wait_for(lambda: cursor(store) is not None and in_sync(store, sandbox),
                 "a full pull after the restart")
        assert len(stored(store)) == 61 and str(arrived) in stored(store)
        assert duplicates(store) == []
        assert second.health()[0] == 200
        record_property("matrix", {"job": "Rozetka pull", "fault": "kill -9 of the daemon", "store": store.dialect,
                                   "runs": 2, "error": "(killed)"})
    finally:
        sandbox.stop()


def test_sigkill_during_a_push_then_a_restart_applies_each_step_exactly_once(store, tmp_path, daemons, capsys,
                                                                            record_property):
    sandbox = make_sandbox(seed=9, orders=8, page_size=20)
    try:
        new = [sandbox.add_order(1) for _ in range(4)]
        config, port = write_config(tmp_path, sandbox, store)
        first = daemons(config, port)
        wait_for(lambda: in_sync(store, sandbox), "the first pull")

        sandbox.faults.next("slow", times=2, method="PUT", seconds=1.5)
        for order_id in new:
            cli(capsys, config, "order", "ship", f"{ACCOUNT}:{order_id}", "--ttn", ttn_for(order_id))
        wait_for(lambda: any(m == "PUT" for m, *_ in list(sandbox.requests)), "the first (slow) PUT")
        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL

        in_flight = next(int(p.rsplit("/", 1)[1]) for m, p, *_ in list(sandbox.requests) if m == "PUT")
        assert "in_progress" in {c.state for c in commands(store)}  # killed with commands leased
        # Rozetka applies the PUT whose answer the dead daemon never read
        wait_for(lambda: sandbox.order(in_flight)["status"] == 26, "the in-flight PUT to land")

        expire_leases(store)  # stands in for the 10-minute command leases running out
        daemons(config, port)
        wait_for(lambda: {c.state for c in commands(store)} == {"done"}, "every command to be done")

        for order_id in new:
            order = sandbox.order(order_id)
            assert history(sandbox, order_id) == [1, 26, 61], order_id  # each status once, none skipped
            assert puts(sandbox, order_id) == [26, 61], order_id  # no step sent twice, not even the lost one
            assert order["status"] == 61 and order["ttn"] == ttn_for(order_id)
        assert not [c for c in commands(store) if c.state == "in_progress" or c.locked_by]
        killed = commands_by_order(store)[str(in_flight)]
        # taken again after the restart, which found 26 applied and sent only the step to 61
        assert killed.attempts == 2 and killed.result.startswith("status 61")
        wait_for(lambda: in_sync(store, sandbox), "the store to show the pushed statuses")
        record_property("matrix", {"job": "Rozetka push", "fault": "kill -9 of the daemon", "store": store.dialect,
                                   "runs": 2, "error": "(killed with a write in flight)"})
    finally:
        sandbox.stop()


def test_sigkill_during_a_buyer_message_then_a_restart_delivers_it_exactly_once(
        sqlite_store, tmp_path, daemons, capsys):
    store = sqlite_store
    sandbox = make_sandbox(seed=13, orders=5, page_size=20)
    try:
        order_id = sandbox.add_order(26)
        config, port = write_config(tmp_path, sandbox, store)
        first = daemons(config, port)
        wait_for(lambda: in_sync(store, sandbox), "the first pull")

        sandbox.faults.next("slow", times=1, path="/messages/create", seconds=1.5)
        cli(capsys, config, "order", "message", f"{ACCOUNT}:{order_id}", "Your parcel leaves today.")
        wait_for(lambda: requested(sandbox, "POST", "/messages/create") == 1, "the (slow) send")
        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        assert [c.state for c in commands(store)] == ["in_progress"]
        # Rozetka delivers the message whose answer the dead daemon never read
        wait_for(lambda: len(sandbox.messages_sent) == 1, "the in-flight send to land")

        expire_leases(store)  # stands in for the 10-minute command lease running out
        daemons(config, port)
        wait_for(lambda: [c.state for c in commands(store)] == ["done"], "the message command to be done")
        sent = [(m["order_id"], m["body"]) for m in sandbox.messages_sent]
        assert sent == [(order_id, "Your parcel leaves today.")]
        # the restarted daemon read the chat, found the message there and did not send it again
        assert requested(sandbox, "POST", "/messages/create") == 1
        assert "already sent" in commands(store)[0].result
    finally:
        sandbox.stop()


# -- 5. two daemons on one PostgreSQL store ------------------------------------------------------------------

def test_two_daemons_share_a_postgresql_store_without_doing_anything_twice(
        pg_store, tmp_path, daemons, capsys):
    empty(pg_store)
    store = pg_store
    sandbox = RozetkaSandbox(seed=17, orders=20, page_size=4)
    sandbox.add_seller(USERNAME, PASSWORD)
    # Every /orders/search as the sandbox sees it, in order: ("asked", token, page, None) when it arrives and
    # ("answered", token, page, last page?) when it is handled (after any slow fault). Each daemon logs in for
    # itself, so the bearer token tells the daemons apart.
    searches: list[tuple[str, str, int, bool | None]] = []
    record, dispatch = sandbox.record, sandbox.dispatch

    def caller(request) -> str:
        return request.headers.get("authorization", "")

    def record_search(request) -> None:
        if request.path == "/orders/search":
            with sandbox._lock:  # noqa: SLF001  (the sandbox's own lock keeps the log in order)
                searches.append(("asked", caller(request), int(request.query.get("page") or 1), None))
        record(request)

    def dispatch_search(request, **kw):
        status, body = dispatch(request, **kw)
        if request.path == "/orders/search":
            meta = (body.get("content") or {}).get("_meta") or {}
            with sandbox._lock:  # noqa: SLF001
                searches.append(("answered", caller(request), int(request.query.get("page") or 1),
                                 meta.get("currentPage", 1) >= meta.get("pageCount", 1)))
        return status, body

    sandbox.record, sandbox.dispatch = record_search, dispatch_search
    sandbox.start()
    try:
        new = [sandbox.add_order(1) for _ in range(10)]
        # stale_after 10: a pull held up 2.5 s by the slow page below must not count as unhealthy
        config_a, port_a = write_config(tmp_path, sandbox, store, name="a", stale_after=10)
        config_b, port_b = write_config(tmp_path, sandbox, store, name="b", stale_after=10)
        a, b = daemons(config_a, port_a), daemons(config_b, port_b)
        assert a.owner != b.owner
        wait_for(lambda: in_sync(store, sandbox), "the first pull")

        # One page of the next pull takes 2.5 s. Both daemons try to pull every second, so the other one
        # certainly tries while that pull is in hand: without the account lease, its pages would land inside.
        contested_from = len(searches)
        sandbox.faults.next("slow", times=1, path="/orders/search", seconds=2.5)
        for order_id in new:
            cli(capsys, config_a, "order", "ship", f"{ACCOUNT}:{order_id}", "--ttn", ttn_for(order_id))
        wait_for(lambda: {c.state for c in commands(store)} == {"done"}, "all ten commands to be done")
        for order_id in new:
            assert puts(sandbox, order_id) == [26, 61], order_id  # each step sent once, by one daemon
            assert history(sandbox, order_id) == [1, 26, 61], order_id
            assert sandbox.order(order_id)["ttn"] == ttn_for(order_id)
        done = [d.metric("connector_pushes_total", account=ACCOUNT, outcome="done") for d in (a, b)]
        assert sum(done) == 10  # every command pushed exactly once across the two daemons
        assert [c.attempts for c in commands(store)] == [1] * 10
        slow = wait_for(lambda: next((i for i in range(contested_from, len(searches))
                                      if searches[i][0] == "asked"), None), "the slow page to be asked for")
        wait_for(lambda: any(event == "answered" and token == searches[slow][1]
                             for event, token, *_ in searches[slow + 1:]), "the slow page to be answered")

        def pulls_never_overlapped(log: list) -> None:
            """A pull opens when its page 1 is asked for and closes when its last page is answered; no other
            daemon may ask for anything in between."""
            pulling = None
            for event, token, page, last in log:
                if event == "asked" and page == 1:
                    assert pulling is None, "a pull began while another daemon's was in hand: they overlapped"
                    pulling = token
                assert pulling == token, f"{event} page {page} outside that daemon's pull: pulls overlapped"
                if event == "answered" and last:
                    pulling = None

        pulls_never_overlapped(list(searches))
        assert duplicates(store) == []
        assert a.health()[0] == 200 and b.health()[0] == 200
        wait_for(lambda: in_sync(store, sandbox), "the store to show the pushed statuses")

        # one daemon dies; the other carries on pulling and pushing
        a.signal(signal.SIGKILL)
        assert a.wait(10) == -signal.SIGKILL
        killed_at = datetime.now(UTC)
        if account_state(store).lease_owner == a.owner:
            expire_leases(store)  # A died holding the pull lease: stands in for its 5 minutes running out
        time.sleep(0.2)  # let a request A sent just before it died reach the sandbox's log
        searched_before = len(searches)
        later = sandbox.add_order(1)
        wait_for(lambda: str(later) in stored(store), "the survivor to pull a new order")
        cli(capsys, config_b, "order", "accept", f"{ACCOUNT}:{later}")
        wait_for(lambda: {c.state for c in commands(store)} == {"done"}, "the survivor to push")
        assert puts(sandbox, later) == [26]
        assert b.metric("connector_pushes_total", account=ACCOUNT, outcome="done") == done[1] + 1
        def survivor_pulled() -> bool:
            last_ok = b.health()[1]["accounts"][ACCOUNT]["last_pull_ok_at"]
            return datetime.fromisoformat(last_ok) > killed_at

        wait_for(survivor_pulled, "a successful pull by the survivor")
        assert b.health()[0] == 200
        assert len({token for _, token, *_ in searches[searched_before:]}) == 1  # only the survivor pulls now
        assert duplicates(store) == [] and wait_for(lambda: in_sync(store, sandbox), "the store to catch up")
    finally:
        sandbox.stop()
