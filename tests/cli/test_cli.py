"""The command line as a user and an ERP script meet it: exit codes, pure JSON on stdout, helpful errors."""

from __future__ import annotations

import json

import pytest
import yaml

from connector.cli.app import main
from connector.store import Store
from tests.factories import pulled
from tests.integration.test_store import put


@pytest.fixture
def config(tmp_path, store, monkeypatch):
    """A configuration whose store is the test's store (SQLite or PostgreSQL)."""
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"url": store.url},
        "accounts": [{"name": "rozetka-main", "marketplace": "rozetka", "base_url": "http://127.0.0.1:9",
                      "username": "shop@example.com", "password_env": "TEST_ROZETKA_PASSWORD"}],
    }))
    return str(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_orders_json_is_a_pure_json_array_with_the_documented_keys(capsys, config, store):
    put(store, pulled("1", ttn="20450000000000"))
    put(store, pulled("2", minutes=1))
    code, out, _ = run(capsys, "--config", config, "orders", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["external_id"] for r in rows] == ["2", "1"]
    required = {"id", "marketplace", "account", "external_id", "status", "marketplace_status", "payment_status",
                "ttn", "shipment_status", "total", "currency", "changed_at"}
    assert required <= set(rows[0])
    assert rows[1]["ttn"] == "20450000000000" and rows[1]["total"] == "640.00" and rows[1]["currency"] == "UAH"


def test_order_show_by_id_and_by_account_and_external_id(capsys, config, store):
    created = put(store, pulled("248888186"))
    by_id = json.loads(run(capsys, "-c", config, "order", "show", str(created.order_id), "--json")[1])
    by_ref = json.loads(run(capsys, "-c", config, "order", "show", "rozetka-main:248888186", "--json")[1])
    assert by_id == by_ref
    assert [h["to"] for h in by_id["history"]] == ["new"] and by_id["lines"][0]["sku"] == "12106"


def test_order_show_of_a_missing_order_exits_2_and_says_how_to_find_one(capsys, config):
    code, out, err = run(capsys, "-c", config, "order", "show", "rozetka-main:nope")
    assert code == 2 and out == ""
    assert "no order 'rozetka-main:nope'" in err and "connector orders" in err


def test_orders_table_shows_both_statuses(capsys, config, store):
    put(store, pulled("248888186"))
    code, out, _ = run(capsys, "-c", config, "orders")
    assert code == 0 and "248888186" in out and "new" in out and "label 1" in out


def test_without_a_configuration_the_cli_says_how_to_start(capsys, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    code, out, err = run(capsys, "orders")
    assert code == 2 and out == ""
    assert "--config PATH" in err and "CONNECTOR_CONFIG" in err and "connector config example" in err


def test_a_bad_configuration_exits_2_naming_the_key(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("schedule: {pull_every: sometimes}\n")
    code, _, err = run(capsys, "-c", str(bad), "orders")
    assert code == 2 and "schedule.pull_every" in err


def test_an_unmigrated_store_is_refused_with_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 'fresh.db'}"}}))
    code, _, err = run(capsys, "-c", str(path), "orders")
    assert code == 1 and "connector db upgrade" in err
    assert run(capsys, "-c", str(path), "db", "upgrade")[0] == 0
    assert run(capsys, "-c", str(path), "db", "status")[0] == 0
    assert run(capsys, "-c", str(path), "orders", "--json")[1].strip() == "[]"


def test_doctor_local_checks_config_and_a_store_round_trip(capsys, config):
    code, out, _ = run(capsys, "-c", config, "doctor", "--local", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 0 and checks["store"]["ok"] and "round-trip ok" in checks["store"]["detail"]


def test_doctor_fails_on_a_missing_secret_and_an_unreachable_host(capsys, config, monkeypatch):
    monkeypatch.delenv("TEST_ROZETKA_PASSWORD", raising=False)
    code, out, _ = run(capsys, "-c", config, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 1
    assert not checks["credentials rozetka-main"]["ok"] and "TEST_ROZETKA_PASSWORD" in checks[
        "credentials rozetka-main"]["detail"]
    assert not checks["reach rozetka-main"]["ok"]
    monkeypatch.setenv("TEST_ROZETKA_PASSWORD", "x")
    checks = {c["name"]: c for c in json.loads(run(capsys, "-c", config, "doctor", "--json")[1])}
    assert checks["credentials rozetka-main"]["ok"]


def test_help_describes_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("db", "doctor", "order", "orders"):
        assert f"  {command} " in out
    assert "Exit codes" in out


def test_bad_usage_exits_2(capsys):
    assert run(capsys, "orders", "--limit", "0")[0] == 2


def test_store_url_in_config_may_use_plain_postgresql_scheme():
    assert Store("postgresql://postgres@127.0.0.1:5432/test").url.startswith("postgresql+psycopg://")


def _config_with(tmp_path, store, **account) -> str:
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": store.url}, "accounts": [
        {"name": "rozetka-main", "marketplace": "rozetka", "base_url": "http://127.0.0.1:9",
         "username": "shop@example.com", "password_env": "TEST_ROZETKA_PASSWORD", **account}]}))
    return str(path)


def test_doctor_fails_an_account_the_daemon_could_not_start_and_says_why(capsys, tmp_path, store,
                                                                         monkeypatch):
    """The daemon leaves such an account out; the doctor must not call it fine (--local too: no secrets)."""
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.setenv("TEST_ROZETKA_PASSWORD", "x")
    missing = tmp_path / "nowhere" / "rozetka.yaml"
    config = _config_with(tmp_path, store, mapping=str(missing))
    for local in (["--local"], []):
        code, out, _ = run(capsys, "-c", config, "doctor", *local, "--json")
        checks = {c["name"]: c for c in json.loads(out)}
        assert code == 1 and not checks["account rozetka-main"]["ok"]
        assert str(missing) in checks["account rozetka-main"]["detail"]
    monkeypatch.delenv("TEST_ROZETKA_PASSWORD")
    code, out, _ = run(capsys, "-c", _config_with(tmp_path, store), "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 1 and not checks["account rozetka-main"]["ok"]
    assert "TEST_ROZETKA_PASSWORD" in checks["account rozetka-main"]["detail"]
    code, out, _ = run(capsys, "-c", _config_with(tmp_path, store), "doctor", "--local", "--json")
    assert code == 0 and {c["name"]: c for c in json.loads(out)}["account rozetka-main"]["ok"]


def test_doctor_prints_a_base_url_without_its_user_and_password(capsys, tmp_path, store, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    config = _config_with(tmp_path, store, base_url="http://seller:s3cret@127.0.0.1:9/api")
    for json_flag in (["--json"], []):
        code, out, err = run(capsys, "-c", config, "doctor", *json_flag)
        assert code == 1  # nothing listens on port 9
        assert "s3cret" not in out + err and "seller:" not in out + err
        assert "http://127.0.0.1:9/api" in out
