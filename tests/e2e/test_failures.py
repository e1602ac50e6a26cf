"""What an operator sees when something is wrong: one line that says what and what to do, the documented exit
code, never a traceback, a SQL statement or its parameters; and a broken account that stays visible as failed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connector.cli.app import main
from connector.config import parse_settings
from connector.daemon import Daemon
from connector.domain import utcnow
from connector.store.accounts import pause
from tests.e2e.test_daemon import (  # noqa: F401  (daemons: a fixture)
    ACCOUNT, CONNECTOR, PASSWORD_ENV, USERNAME, commands, daemons, make_sandbox, puts, write_config,
)
from tests.factories import pulled
from tests.integration.test_store import put

UNREACHABLE = {
    "postgresql": "postgresql://postgres@127.0.0.1:1/x",  # nothing listens on port 1
    "sqlite": "sqlite:////nonexistent/dir/x.db",  # a directory that does not exist
}
# Every command that opens the store, as a user types it.
STORE_COMMANDS = [
    ["orders"], ["order", "show", "1"], ["order", "accept", "1"], ["outbox"], ["outbox", "retry", "1"],
    ["quarantine"], ["db", "upgrade"], ["db", "status"], ["sync", "--once"], ["track"], ["remap"],
    ["resync", "1"], ["run", "--health-port", "0"],
]
LEAKS = ("Traceback", "SELECT", "INSERT", "[SQL", "[parameters", "sqlalche.me")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clean(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} in the output:\n{text}"


def write(tmp_path: Path, data: dict, name: str = "connector.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)


# -- item 9: one-line errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", sorted(UNREACHABLE))
@pytest.mark.parametrize("argv", STORE_COMMANDS, ids=" ".join)
def test_a_store_that_cannot_be_opened_is_one_line_and_exit_1(capsys, tmp_path, backend, argv):
    config = write(tmp_path, {"store": {"url": UNREACHABLE[backend]}})
    code, out, err = run(capsys, "-c", config, *argv)
    assert code == 1 and out == ""
    assert_clean(err)
    error, hint = err.strip().splitlines()
    assert error.startswith("error: cannot open the store at ") and hint.startswith("hint: ")
    if backend == "sqlite":
        assert "/nonexistent/dir does not exist" in hint
    else:
        assert "127.0.0.1:1" in error and "Connection refused" in error


@pytest.mark.parametrize("backend", sorted(UNREACHABLE))
def test_doctor_reports_a_store_that_cannot_be_opened_as_a_failed_check(capsys, tmp_path, backend):
    config = write(tmp_path, {"store": {"url": UNREACHABLE[backend]}})
    code, out, err = run(capsys, "-c", config, "doctor", "--local", "--json")
    assert code == 1
    assert_clean(out + err)
    checks = {c["name"]: c for c in json.loads(out)}
    assert checks["config"]["ok"] and not checks["store"]["ok"]
    assert "cannot open the store" in checks["store"]["detail"]
    code, out, err = run(capsys, "-c", config, "doctor", "--local")  # the table, too
    assert code == 1 and "FAIL" in out
    assert_clean(out + err)


@pytest.fixture
def config(tmp_path, store):
    return write(tmp_path, {"store": {"url": store.url}, "accounts": [
        {"name": ACCOUNT, "marketplace": "rozetka", "base_url": "http://127.0.0.1:9", "username": USERNAME,
         "password_env": PASSWORD_ENV}]})


@pytest.mark.parametrize("ref", ["²", "٣", "99999999999999999999999", "3000000000", "9" * 5000])
@pytest.mark.parametrize("command", [["order", "show"], ["order", "accept"], ["resync"]], ids=" ".join)
def test_a_ref_that_cannot_be_an_order_id_is_a_usage_error(capsys, config, store, ref, command):
    put(store, pulled("1"))
    code, out, err = run(capsys, "-c", config, *command, ref)
    assert code == 2 and out == ""
    assert_clean(err)
    assert "REF" in err and "not an order id" in err
    assert len(err) < 1000  # a 5000-digit REF is not echoed whole


def test_a_command_id_past_the_stores_ids_is_a_usage_error(capsys, config):
    for argv in (["outbox", "retry", "99999999999999999999999"], ["outbox", "cancel", "3000000000"]):
        code, _, err = run(capsys, "-c", config, *argv)
        assert code == 2 and "COMMAND_ID" in err
        assert_clean(err)
    code, out, err = run(capsys, "-c", config, "orders", "--limit", "99999999999999999999999", "--json")
    assert code == 0 and json.loads(out) == []


def test_an_overlong_key_is_refused_before_anything_is_written(capsys, config, store):
    order_id = put(store, pulled("1")).order_id
    code, out, err = run(capsys, "-c", config, "order", "accept", str(order_id), "--key", "k" * 129)
    assert code == 2 and out == ""
    assert_clean(err)
    assert "--key" in err and "129 characters" in err and "128" in err
    assert "k" * 129 not in err  # the key itself (an ERP's data) is not echoed back
    assert commands(store) == []
    assert run(capsys, "-c", config, "order", "accept", str(order_id), "--key", "k" * 128)[0] == 0
    assert [c.idempotency_key for c in commands(store)] == ["k" * 128]


def test_an_overflowing_duration_is_a_configuration_error_naming_the_key(capsys, tmp_path):
    config = write(tmp_path, {"schedule": {"pull_every": "99999999999999999999d"}})
    code, out, err = run(capsys, "-c", config, "orders")
    assert code == 2 and out == ""
    assert_clean(err)
    assert "schedule.pull_every" in err and "too long" in err


def test_a_database_error_mid_command_is_one_line_without_the_statement(capsys, config, monkeypatch):
    """The last line of defence in main(): whatever the store refuses once open, no SQL and no parameters."""
    import connector.cli.orders as orders

    def broken(session, **_):
        return session.execute(sa.text("SELECT * FROM no_such_table WHERE buyer = :buyer"),
                               {"buyer": "Ivanna Buyer"}).all()

    monkeypatch.setattr(orders, "list_orders", broken)
    code, out, err = run(capsys, "-c", config, "orders")
    assert code == 1 and out == ""
    assert_clean(err)
    assert "Ivanna Buyer" not in err and "no_such_table" in err
    assert err.startswith("error: the store failed: ") and err.count("\n") == 2  # the error and the hint


def test_a_second_daemon_whose_health_port_is_taken_exits_1_before_any_job(store, tmp_path, capsys,
                                                                          monkeypatch):
    """It names host:port, and it pushes nothing: the port is checked before the scheduler starts."""
    monkeypatch.setenv(PASSWORD_ENV, "password")
    sandbox = make_sandbox(seed=3, orders=0)
    try:
        new = sandbox.add_order(1)
        config, port = write_config(tmp_path, sandbox, store)
        assert run(capsys, "-c", str(config), "sync", "--once")[0] == 0
        assert run(capsys, "-c", str(config), "order", "accept", f"{ACCOUNT}:{new}")[0] == 0
        with socket.socket() as taken:  # the first daemon, as far as the port goes
            taken.bind(("127.0.0.1", port))
            taken.listen()
            proc = subprocess.run([CONNECTOR, "-c", str(config), "run"], capture_output=True, text=True,
                                  timeout=60, env=os.environ)
        assert proc.returncode == 1, proc.stderr
        assert_clean(proc.stdout + proc.stderr)
        assert f"error: cannot serve /healthz on 127.0.0.1:{port}: the port is taken" in proc.stderr
        assert "daemon started" not in proc.stderr
        assert [c.state for c in commands(store)] == ["pending"] and puts(sandbox, new) == []
    finally:
        sandbox.stop()


# -- item 10: an account that cannot start stays visible as failed -------------------------------------------

def test_an_account_that_cannot_start_is_failed_in_healthz_and_metrics(sqlite_store, tmp_path, daemons):
    sandbox = make_sandbox(seed=4, orders=3)
    try:
        config, port = write_config(tmp_path, sandbox, sqlite_store)
        data = yaml.safe_load(config.read_text())
        good = data["accounts"][0]
        data["accounts"] += [good | {"name": "no-secret", "password_env": "TEST_FAILURES_UNSET_PASSWORD"},
                             good | {"name": "no-mapping", "mapping": str(tmp_path / "missing.yaml")}]
        config.write_text(yaml.safe_dump(data))
        daemon = daemons(config, port)
        status, report = daemon.health()
        assert status == 503
        accounts = report["accounts"]
        assert accounts["no-secret"]["ok"] is False
        assert "TEST_FAILURES_UNSET_PASSWORD" in accounts["no-secret"]["error"]
        assert accounts["no-mapping"]["ok"] is False and "missing.yaml" in accounts["no-mapping"]["error"]
        assert accounts[ACCOUNT]["ok"] is True  # the others run
        assert daemon.metric("connector_account_up", account="no-secret") == 0
        assert daemon.metric("connector_account_up", account="no-mapping") == 0
        assert daemon.metric("connector_account_up", account=ACCOUNT) == 1
        assert "connector_account_up{account=\"no-secret\"} 0.0" in daemon.get("/metrics").text
    finally:
        sandbox.stop()


# -- item 12: no login e-mail in /healthz --------------------------------------------------------------------

class _Idle:
    def close(self) -> None:
        pass


def test_healthz_does_not_show_the_sellers_login_in_a_pause_reason(store):
    settings = parse_settings({"store": {"url": store.url}, "daemon": {"health_port": None}})
    daemon = Daemon(settings, store, adapters={"chopni-main": _Idle()}, carriers={})
    with store.transaction() as session:
        pause(session, "chopni-main", "Chopni refused the login for seller@example.com: wrong password",
              utcnow() + timedelta(minutes=30))
    ok, report = daemon.health()
    reason = report["accounts"]["chopni-main"]["paused_reason"]
    assert not ok and "seller@example.com" not in json.dumps(report)
    assert reason.startswith("Chopni refused the login for [redacted]") and "wrong password" in reason
    metrics = text_string_to_metric_families(generate_latest(daemon.metrics.registry).decode())
    samples = {s.labels["account"]: s.value
               for f in metrics for s in f.samples if s.name == "connector_account_up"}
    assert samples == {"chopni-main": 0}
