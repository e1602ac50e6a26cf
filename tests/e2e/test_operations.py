"""Operating the connector: the packaged example, the probes an orchestrator uses, the metrics, real logins in
`connector doctor`, pauses that survive restarts but end when the secret changes, and `connector account`.

Daemons here run in this process (Daemon.start / shutdown) against the Rozetka sandbox, on a free port."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adapters.rozetka.sandbox import RozetkaSandbox
from connector.cli.app import main
from connector.config import EXAMPLE_PATH, DaemonSettings, parse_settings
from connector.daemon import Daemon
from connector.domain import build_command
from connector.store import Store
from connector.store.accounts import (
    failed_secrets, hold, paused_accounts, record_run, remember_failed_secret, resume_if_secret_changed, states,
)
from connector.store.commands import enqueue
from connector.store.queries import find_order
from connector.store.tables import CommandRow, OrderRow
from tests.e2e.test_daemon import wait_for
from tests.factories import pulled
from tests.integration.test_store import put

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "rozetka-main"
USERNAME, PASSWORD = "shop@example.com", "password"



def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err



@pytest.fixture
def sandbox() -> Iterator[RozetkaSandbox]:
    box = RozetkaSandbox(seed=3, orders=4, page_size=20)
    box.add_seller(USERNAME, PASSWORD)
    box.start()
    try:
        yield box
    finally:
        box.stop()


def logins(box: RozetkaSandbox) -> int:
    return sum(1 for method, path, *_ in list(box.requests) if method == "POST" and path.endswith("/sites"))


def settings_for(box: RozetkaSandbox, store: Store, secret: Path, **daemon) -> dict:
    return {"store": {"url": store.url},
            "accounts": [{"name": ACCOUNT, "marketplace": "rozetka", "base_url": box.url, "username": USERNAME,
                          "password_file": str(secret)}],
            "schedule": {"pull_every": "1s", "push_every": "1s"},
            "daemon": {"health_port": 0, "takeover_wait": "1s", **daemon},
            "log": {"format": "json"}}


def config_file(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def daemons() -> Iterator:
    started: list[Daemon] = []

    def start(data: dict) -> Daemon:
        daemon = Daemon(parse_settings(data), Store(data["store"]["url"]))
        started.append(daemon)
        daemon.start()
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            if not daemon.stop.is_set():
                daemon.shutdown(wait=True)


def get(daemon: Daemon, path: str) -> httpx.Response:
    return httpx.get(daemon.health_url + path, timeout=5.0)


def metric(daemon: Daemon, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(get(daemon, "/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


# -- 1. the example configuration ships in the package ---------------------------------------------------------

def test_config_example_prints_the_packaged_example_and_the_repository_file_is_a_link_to_it(capsys):
    code, out, _ = run(capsys, "config", "example")  # no --config, no store: it must work on a fresh install
    assert code == 0 and out == EXAMPLE_PATH.read_text(encoding="utf-8")
    assert EXAMPLE_PATH.parent == ROOT / "connector"  # inside the package, so an installed wheel has it
    assert (ROOT / "config.example.yaml").resolve() == EXAMPLE_PATH.resolve()
    assert '"connector" = ["config.example.yaml"]' in (ROOT / "pyproject.toml").read_text()
    parse_settings(yaml.safe_load(out))  # and it is a valid configuration


def test_config_show_merges_the_environment_over_the_file_and_hides_a_store_password(capsys, tmp_path,
                                                                                     monkeypatch):
    path = config_file(tmp_path, {"schedule": {"pull_every": "2m"}})
    monkeypatch.setenv("CONNECTOR_STORE__URL", "postgresql://shop:s3cret@db:5432/connector")
    code, out, _ = run(capsys, "-c", path, "config", "show", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["environment"] == ["CONNECTOR_STORE__URL"]
    assert shown["settings"]["store"]["url"] == "postgresql://db:5432/connector" and "s3cret" not in out
    assert shown["settings"]["schedule"]["pull_every"] == "120s"


# -- 3. probes and metrics -------------------------------------------------------------------------------------

def test_the_default_health_port_is_no_exporters_and_the_packaging_uses_it():
    port = DaemonSettings().health_port
    assert port not in range(9100, 10000)  # Prometheus' exporter range, where 9464 is OpenTelemetry's
    example = yaml.safe_load(EXAMPLE_PATH.read_text())
    assert example["daemon"]["health_port"] == port
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^EXPOSE {port}$", dockerfile, re.M) and f"127.0.0.1:{port}/livez" in dockerfile
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert compose["services"]["connector"]["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_livez_and_readyz_do_not_fail_for_a_marketplace_and_readyz_fails_without_the_store(
        sqlite_store, sandbox, tmp_path, daemons):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    daemon = daemons(settings_for(sandbox, sqlite_store, secret, stale_after=1))
    wait_for(lambda: get(daemon, "/healthz").status_code == 200, "a first good pull")
    assert get(daemon, "/livez").status_code == 200 and get(daemon, "/readyz").json()["store"] is True

    sandbox.faults.rate("server_error", 1.0)  # the marketplace is down
    wait_for(lambda: get(daemon, "/healthz").status_code == 503, "/healthz to report the account")
    assert get(daemon, "/livez").status_code == 200  # restarting the process would not help: it stays live
    assert get(daemon, "/readyz").status_code == 200  # and ready: the store answers
    sandbox.faults.clear()

    store, daemon.store = daemon.store, Store("postgresql://nobody@127.0.0.1:1/none")  # the store goes away
    try:
        ready = get(daemon, "/readyz")
        assert ready.status_code == 503 and ready.json()["store"] is False
        assert get(daemon, "/livez").status_code == 200
    finally:
        daemon.store = store


def test_metrics_have_build_info_process_pauses_failures_reviews_and_per_account_push_and_pull_times(
        sqlite_store, sandbox, tmp_path, daemons):
    store = sqlite_store
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    daemon = daemons(settings_for(sandbox, store, secret))
    wait_for(lambda: metric(daemon, "connector_last_pull_success_timestamp_seconds", account=ACCOUNT),
             "the last good pull's time")
    pulled_at = metric(daemon, "connector_last_pull_success_timestamp_seconds", account=ACCOUNT)
    assert abs(pulled_at - time.time()) < 30
    with store.transaction() as session:
        order = session.execute(sa.select(OrderRow)).scalars().first()
        session.execute(sa.update(OrderRow).where(OrderRow.id == order.id).values(needs_review=True))
        queued = enqueue(session, find_order(session, f"{ACCOUNT}:{order.external_id}"),
                         build_command("comment", {"text": "x"}), requested_by="test")
        command_id = queued.row.id
    wait_for(lambda: metric(daemon, "connector_job_duration_seconds_count", job="push", account=ACCOUNT),
             "a push run timed for the account")
    with store.transaction() as session:
        session.execute(sa.update(CommandRow).where(CommandRow.id == command_id).values(state="failed"))
    assert metric(daemon, "connector_commands_failed") == 1
    assert metric(daemon, "connector_orders_needing_review") == 1
    assert metric(daemon, "connector_account_paused", account=ACCOUNT) == 0
    from connector import __version__
    assert metric(daemon, "connector_build_info", version=__version__) == 1
    assert metric(daemon, "process_cpu_seconds_total") is not None  # the standard process collector
    assert metric(daemon, "connector_job_duration_seconds_count", job="push", account="") is None


# -- 4. doctor logs in ----------------------------------------------------------------------------------------

def test_doctor_logs_in_for_real_and_names_the_refused_secret(capsys, tmp_path, sqlite_store, sandbox,
                                                               monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    data = settings_for(sandbox, sqlite_store, tmp_path / "unused")
    data["accounts"][0] = {**data["accounts"][0], "password_env": "TEST_OPS_ROZETKA_PASSWORD"}
    del data["accounts"][0]["password_file"]
    path = config_file(tmp_path, data)
    monkeypatch.setenv("TEST_OPS_ROZETKA_PASSWORD", PASSWORD)
    code, out, _ = run(capsys, "-c", path, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 0 and checks[f"login {ACCOUNT}"]["ok"] and logins(sandbox) == 1

    monkeypatch.setenv("TEST_OPS_ROZETKA_PASSWORD", "wrong")
    code, out, _ = run(capsys, "-c", path, "doctor", "--json")
    login = {c["name"]: c for c in json.loads(out)}[f"login {ACCOUNT}"]
    assert code == 1 and not login["ok"]
    assert "refused the password in $TEST_OPS_ROZETKA_PASSWORD" in login["detail"]
    assert logins(sandbox) == 2  # one attempt: a doctor must not lock the login with retries

    for offline in ("--offline", "--local"):  # no network, no secrets: no login
        code, out, _ = run(capsys, "-c", path, "doctor", offline, "--json")
        assert code == 0 and not any(c["name"].startswith("login") for c in json.loads(out))
    assert logins(sandbox) == 2
    assert run(capsys, "-c", path, "doctor", "--timeout", "soon")[0] == 2  # a duration, validated
    assert run(capsys, "-c", path, "doctor", "--account", "nope")[0] == 2


# -- 5. pauses ------------------------------------------------------------------------------------------------

def test_a_refused_login_stays_paused_across_restarts_until_the_secret_changes(sqlite_store, sandbox, tmp_path,
                                                                               daemons):
    store = sqlite_store
    secret = tmp_path / "password"
    secret.write_text("wrong")
    data = settings_for(sandbox, store, secret)
    first = daemons(data)
    wait_for(lambda: ACCOUNT in _paused(store) and _refused(store), "the refused login to pause the account")
    assert logins(sandbox) == 1
    fingerprint = _refused(store)
    assert "wrong" not in fingerprint and fingerprint.startswith("pbkdf2:")  # a hash, never the secret
    first.shutdown()

    for _ in range(2):  # a restart loop: no new login with the same wrong password
        restarted = daemons(data)
        time.sleep(2.5)  # two pull intervals and more
        assert get(restarted, "/healthz").json()["accounts"][ACCOUNT]["paused_for"] == "credentials"
        assert metric(restarted, "connector_account_paused", account=ACCOUNT) == 1
        restarted.shutdown()
    assert logins(sandbox) == 1 and ACCOUNT in _paused(store)

    again = daemons(data)
    secret.write_text(PASSWORD)  # the operator fixes the secret file; the running daemon sees it at its next pull
    wait_for(lambda: ACCOUNT not in _paused(store) and _last_ok(store), "the account to resume and pull")
    assert logins(sandbox) == 2
    assert get(again, "/healthz").status_code == 200


def _paused(store: Store) -> set[str]:
    with store.reading() as session:
        return paused_accounts(session)


def _refused(store: Store) -> str | None:
    with store.reading() as session:
        return failed_secrets(session).get(ACCOUNT)


def _last_ok(store: Store):
    with store.reading() as session:
        state = states(session).get(ACCOUNT)
        return state and state.last_pull_ok_at


def test_only_a_credentials_pause_ends_on_a_new_secret_and_resuming_forgets_the_fingerprint(store):
    with store.transaction() as session:
        from connector.store.accounts import pause
        from connector.domain import utcnow
        from datetime import timedelta
        pause(session, ACCOUNT, "refused", until=utcnow() + timedelta(minutes=30))
        remember_failed_secret(session, ACCOUNT, "pbkdf2:old")
    with store.transaction() as session:
        assert not resume_if_secret_changed(session, ACCOUNT, lambda: "pbkdf2:old")
        assert not resume_if_secret_changed(session, ACCOUNT, lambda: None)  # unreadable now: no change
        assert resume_if_secret_changed(session, ACCOUNT, lambda: "pbkdf2:new")
        assert ACCOUNT not in paused_accounts(session) and failed_secrets(session) == {}
    with store.transaction() as session:
        remember_failed_secret(session, ACCOUNT, "pbkdf2:old")
        hold(session, ACCOUNT, "stock-taking")  # an operator's pause: a new secret does not end it
    with store.transaction() as session:
        assert not resume_if_secret_changed(session, ACCOUNT, lambda: "pbkdf2:new")
        assert ACCOUNT in paused_accounts(session)


def test_account_pause_list_and_resume(capsys, tmp_path, store, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        path = config_file(tmp_path, {"store": {"url": store.url}, "accounts": [
            {"name": ACCOUNT, "marketplace": "rozetka", "base_url": "http://127.0.0.1:9", "username": USERNAME,
             "password_env": "TEST_OPS_UNSET"},
            {"name": "chopni-main", "marketplace": "chopni", "base_url": "http://127.0.0.1:9", "email": USERNAME,
             "password_env": "TEST_OPS_UNSET"}]})
        with store.transaction() as session:
            record_run(session, ACCOUNT, ok=True, now=datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC))

        code, out, _ = run(capsys, "-c", path, "account", "pause", ACCOUNT, "--comment", "stock-taking", "--json")
        assert code == 0 and json.loads(out) == [{"account": ACCOUNT, "state": "paused", "paused_for": "operator",
                                                  "comment": "stock-taking"}]
        rows = {r["account"]: r for r in json.loads(run(capsys, "-c", path, "account", "list", "--json")[1])}
        assert rows[ACCOUNT]["state"] == "paused" and rows[ACCOUNT]["paused_for"] == "operator"
        assert "stock-taking" in rows[ACCOUNT]["pause_reason"]
        assert rows[ACCOUNT]["last_pull_ok_at"] == "2025-03-01T12:00:05+00:00"  # UTC in JSON
        assert rows["chopni-main"]["state"] == "never pulled"

        code, out, _ = run(capsys, "-c", path, "account", "list", "--account", ACCOUNT)
        assert code == 0 and "2025-03-01 21:00:05" in out  # local (Tokyo, UTC+9) in the table
        assert "chopni-main" not in out and "until resumed" in out

        code, out, _ = run(capsys, "-c", path, "account", "resume", ACCOUNT, "--json")
        assert code == 0 and json.loads(out) == [{"account": ACCOUNT, "was_paused": True}]
        rows = {r["account"]: r for r in json.loads(run(capsys, "-c", path, "account", "list", "--json")[1])}
        assert rows[ACCOUNT]["state"] == "ok" and rows[ACCOUNT]["paused_for"] is None
        assert run(capsys, "-c", path, "account", "pause", "nope")[0] == 2  # an unknown account: usage
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# -- 6. --json everywhere --------------------------------------------------------------------------------------

def test_db_status_and_outbox_retry_and_cancel_print_json(capsys, tmp_path, store, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    path = config_file(tmp_path, {"store": {"url": store.url}})
    code, out, _ = run(capsys, "-c", path, "db", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["current"] == status["needed"] and status["current_is_needed"] is True
    assert json.loads(run(capsys, "-c", path, "db", "upgrade", "--json")[1])["changed"] is False

    created = put(store, pulled("1"))
    with store.transaction() as session:
        from connector.store.tables import OrderRow as O
        queued = enqueue(session, session.get(O, created.order_id), build_command("comment", {"text": "x"}),
                         requested_by="test")
        command_id = queued.row.id
    code, out, _ = run(capsys, "-c", path, "outbox", "cancel", str(command_id), "--json")
    assert code == 0 and json.loads(out)["state"] == "cancelled" and json.loads(out)["id"] == command_id
    code, out, _ = run(capsys, "-c", path, "outbox", "retry", str(command_id), "--json")
    assert code == 0 and json.loads(out)["state"] == "pending"


def test_doctor_logs_in_to_a_carrier_and_names_its_refused_key(monkeypatch):
    from datetime import timedelta

    from adapters.novaposhta.sandbox import DEFAULT_KEY, NovaPoshtaSandbox
    from connector.cli.doctor import check_logins

    with NovaPoshtaSandbox(seed=1) as np:
        settings = parse_settings({"carriers": {"novaposhta": {"base_url": np.url,
                                                               "api_key_env": "TEST_OPS_NP_KEY"}}})
        monkeypatch.setenv("TEST_OPS_NP_KEY", DEFAULT_KEY)
        [check] = check_logins(settings, timedelta(seconds=5))
        assert check.name == "login novaposhta" and check.ok
        monkeypatch.setenv("TEST_OPS_NP_KEY", "wrong")
        [check] = check_logins(settings, timedelta(seconds=5))
        assert not check.ok and "refused the secret in $TEST_OPS_NP_KEY" in check.detail
