"""The CLI faces of the feed, the API keys and the webhooks, and the shared refusal of a duplicate command."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import yaml
from sqlmodel import select

from connector.cli.app import main
from connector.domain import Status
from connector.store.api_keys import authenticate
from connector.store.tables import CommandRow, WebhookDeliveryRow
from tests.factories import T0, pulled
from tests.integration.test_store import put


@pytest.fixture
def config(tmp_path, store, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s")
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"url": store.url},
        "accounts": [{"name": "rozetka-main", "marketplace": "rozetka", "base_url": "http://127.0.0.1:9",
                      "username": "shop@example.com", "password_env": "TEST_ROZETKA_PASSWORD"}],
        "webhooks": [{"name": "erp", "url": "http://127.0.0.1:9/hook", "events": ["*"],
                      "secret_env": "TEST_WEBHOOK_SECRET", "give_up_after": "1s"}],
    }))
    return str(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_events_since_a_position_as_json_and_as_text(capsys, config, store):
    put(store, pulled("1"))
    put(store, pulled("1", Status.ACCEPTED, code="26", minutes=5))
    code, out, _ = run(capsys, "-c", config, "events", "--json")
    assert code == 0
    events = json.loads(out)
    assert [(e["seq"], e["kind"]) for e in events] == [(1, "order.created"), (2, "order.status_changed")]
    code, out, _ = run(capsys, "-c", config, "events", "--since", "1", "--json")
    assert [e["seq"] for e in json.loads(out)] == [2]
    code, out, _ = run(capsys, "-c", config, "events", "--since", "0", "--limit", "1")
    assert code == 0 and "order.created" in out and "status_changed" not in out
    code, out, _ = run(capsys, "-c", config, "events", "--kind", "order.status_changed", "--json")
    assert [e["data"]["to"] for e in json.loads(out)] == ["accepted"]


def test_orders_since_a_time(capsys, config, store):
    put(store, pulled("1"))
    put(store, pulled("2", minutes=10))
    code, out, _ = run(capsys, "-c", config, "orders", "--json", "--since", (T0 + timedelta(minutes=5)).isoformat())
    assert code == 0 and [o["external_id"] for o in json.loads(out)] == ["2"]
    code, out, _ = run(capsys, "-c", config, "orders", "--json", "--since", "2026-11-01 08:00")  # UTC
    assert [o["external_id"] for o in json.loads(out)] == ["1", "2"]
    code, _, err = run(capsys, "-c", config, "orders", "--since", "yesterday")
    assert code == 2 and "is not a time" in err


def test_api_keys_are_printed_once_listed_without_the_key_and_revoked(capsys, config, store):
    code, out, err = run(capsys, "-c", config, "api-key", "create", "erp", "--scope", "write")
    key = out.strip()
    assert code == 0 and key.startswith("ck_") and "shown only now" in err
    with store.reading() as session:
        assert authenticate(session, key).scope == "write"
    code, out, _ = run(capsys, "-c", config, "api-key", "list", "--json")
    [listed] = json.loads(out)
    assert listed["name"] == "erp" and key not in out and listed["revoked_at"] is None
    code, _, err = run(capsys, "-c", config, "api-key", "create", "erp")
    assert code == 2 and "already a key named" in err
    assert run(capsys, "-c", config, "api-key", "revoke", "erp")[0] == 0
    with store.reading() as session:
        assert authenticate(session, key) is None


def test_a_duplicate_open_command_is_refused_in_the_cli_with_exit_2(capsys, config, store):
    put(store, pulled("1"))
    assert run(capsys, "-c", config, "order", "accept", "rozetka-main:1")[0] == 0
    code, out, err = run(capsys, "-c", config, "order", "accept", "rozetka-main:1", "--comment", "again")
    assert code == 2 and out == "" and "already has an open accept command" in err and "outbox cancel" in err
    put(store, pulled("2", Status.READY_TO_SHIP, code="61", ttn="20450000000000"))
    code, out, _ = run(capsys, "-c", config, "order", "ship", "rozetka-main:2", "--ttn", "20450000000000", "--json")
    assert code == 0 and json.loads(out)["state"] == "done" and "already done" in json.loads(out)["result"]
    with store.reading() as session:
        assert len(session.exec(select(CommandRow)).all()) == 2


def test_webhook_deliveries_listed_failed_and_retried(capsys, config, store):
    assert run(capsys, "-c", config, "webhooks", "send", "--json")[0] == 0  # the subscription starts here
    put(store, pulled("1"))
    code, out, _ = run(capsys, "-c", config, "webhooks", "send", "--json")  # nobody listens on port 9
    assert code == 1 and json.loads(out)["written"] == 1
    time.sleep(1.1)  # past give_up_after
    with store.transaction() as session:  # due again now, not after its backoff
        row = session.exec(select(WebhookDeliveryRow)).one()
        row.next_attempt_at = row.created_at
        session.add(row)
    code, out, _ = run(capsys, "-c", config, "webhooks", "send", "--json")
    assert code == 1 and len(json.loads(out)["failed"]) == 1
    code, out, _ = run(capsys, "-c", config, "webhooks", "--failed", "--json")
    [failed] = json.loads(out)
    assert failed["state"] == "failed" and "gave up" in failed["last_error"]
    code, out, _ = run(capsys, "-c", config, "webhooks", "retry", str(failed["id"]))
    assert code == 0 and "pending again" in out
    code, out, _ = run(capsys, "-c", config, "webhooks")
    assert code == 0 and "erp" in out and "feed position 1" in out
