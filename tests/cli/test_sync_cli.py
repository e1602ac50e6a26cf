"""The sync commands end to end: the CLI against an in-process Rozetka sandbox and the real store (SQLite and
PostgreSQL): `sync --once`, `order <command>`, `outbox`, `resync` and `remap`, as a seller and an ERP script use
them.
"""

from __future__ import annotations

import json

import pytest
import yaml
from sqlmodel import select

from adapters.rozetka.sandbox import RozetkaSandbox
from connector.cli.app import main
from connector.domain import utcnow
from connector.store.tables import CommandRow, QuarantineRow
from mappings import load

V = load("rozetka")
ACCOUNT = "rozetka-main"
SECRET_ENV = "TEST_SYNC_ROZETKA_PASSWORD"
TTN = "20450000000000"


@pytest.fixture
def sandbox():
    with RozetkaSandbox(seed=11, orders=30) as s:
        s.add_seller("shop@example.com", "password")
        yield s


def write_config(path, store, sandbox, **account) -> str:
    path.write_text(yaml.safe_dump({
        "store": {"url": store.url},
        "accounts": [{"name": ACCOUNT, "marketplace": "rozetka", "base_url": sandbox.url,
                      "username": "shop@example.com", "password_env": SECRET_ENV, **account}],
    }))
    return str(path)


@pytest.fixture
def config(tmp_path, store, sandbox, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.setenv(SECRET_ENV, "password")
    return write_config(tmp_path / "connector.yaml", store, sandbox)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, config, *argv):
    code, out, err = run(capsys, "-c", config, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def sync(capsys, config) -> dict:
    return run_json(capsys, config, "sync", "--once")


def ref(order_id: int) -> str:
    return f"{ACCOUNT}:{order_id}"


def stored(capsys, config) -> dict[str, tuple[str, str]]:
    rows = run_json(capsys, config, "orders", "--limit", "1000")
    return {r["external_id"]: (r["marketplace_status"], r["status"]) for r in rows}


def truth(sandbox: RozetkaSandbox) -> dict[str, tuple[str, str]]:
    return {str(i): (str(sandbox.order(i)["status"]), V.rule(sandbox.order(i)["status"]).status.value)
            for i in sandbox.order_ids()}


def outbox(capsys, config, *options) -> list[dict]:
    return run_json(capsys, config, "outbox", *options)


# -- sync --once ---------------------------------------------------------------------------------------------

def test_sync_once_pulls_every_order_and_a_second_run_creates_nothing(capsys, config, sandbox):
    first = sync(capsys, config)
    assert first["accounts"] == [{"account": ACCOUNT, "ok": True, "created": 30, "updated": 0, "unchanged": 0,
                                  "problems": [], "skipped": "", "error": ""}]
    assert first["push"] == {"done": [], "retrying": [], "failed": [], "paused_accounts": []}
    assert stored(capsys, config) == truth(sandbox)
    again = sync(capsys, config)["accounts"][0]
    assert again["ok"] and again["created"] == 0 and again["updated"] == 0
    assert stored(capsys, config) == truth(sandbox) and len(truth(sandbox)) == 30


def test_sync_once_without_the_secret_exits_1_naming_the_account(capsys, config, sandbox, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    code, out, _ = run(capsys, "-c", config, "sync", "--once", "--json")
    rows = json.loads(out)["accounts"]
    assert code == 1 and [r["account"] for r in rows] == [ACCOUNT] and not rows[0]["ok"]
    assert SECRET_ENV in rows[0]["error"]
    code, out, _ = run(capsys, "-c", config, "sync", "--once")
    assert code == 1 and ACCOUNT in out and "FAIL" in out
    assert sandbox.requests == []  # nothing was tried without credentials


def test_sync_of_an_unknown_account_exits_2(capsys, config, sandbox):
    code, out, err = run(capsys, "-c", config, "sync", "--once", "--account", "nope")
    assert code == 2 and out == "" and "no account named 'nope'" in err and ACCOUNT in err
    assert sandbox.requests == []


# -- order <command> -----------------------------------------------------------------------------------------

def test_order_ship_queues_once_and_again_says_already_queued(capsys, config, store, sandbox):
    new = sandbox.add_order(status=1)
    sync(capsys, config)
    code, out, _ = run(capsys, "-c", config, "order", "ship", ref(new), "--ttn", "2045 0000 0000 00")
    assert code == 0 and out.startswith("queued: command ") and "(ship) for order" in out and ref(new) in out
    code, again, _ = run(capsys, "-c", config, "order", "ship", ref(new), "--ttn", "2045 0000 0000 00")
    assert code == 0 and again.startswith("already queued: command ")
    rows = outbox(capsys, config)
    assert len(rows) == 1 and rows[0]["state"] == "pending" and rows[0]["kind"] == "ship"
    assert json.loads(rows[0]["payload"]) == {"ttn": TTN, "carrier": "novaposhta"}
    assert rows[0]["requested_by"] == "cli" and rows[0]["order"] == ref(new)


def test_order_key_is_the_erps_own_idempotency_key(capsys, config, store, sandbox):
    new = sandbox.add_order(status=1)
    sync(capsys, config)
    first = run_json(capsys, config, "order", "accept", ref(new), "--key", "erp:DOC-1")
    # the same key queues once, whatever the payload says: the key is the ERP's document id
    second = run_json(capsys, config, "order", "accept", ref(new), "--comment", "called", "--key", "erp:DOC-1")
    assert first["created"] is True and second["created"] is False and first["id"] == second["id"]
    with store.transaction() as session:
        row = session.exec(select(CommandRow).where(CommandRow.idempotency_key == "erp:DOC-1")).one()
    assert row.id == first["id"] and json.loads(row.payload) == {}
    # without --key the connector's own key is used: a new command, which is refused while the same kind of
    # command is still pending for the order (one intent, queued once, whoever writes it)
    code, _, err = run(capsys, "-c", config, "order", "accept", ref(new))
    assert code == 2 and "pending" in err
    assert len(outbox(capsys, config)) == 1


def test_order_commands_that_cannot_be_queued_exit_2(capsys, config, sandbox):
    shipped = sandbox.add_order(status=3)
    new = sandbox.add_order(status=1)
    sync(capsys, config)
    code, out, err = run(capsys, "-c", config, "order", "cancel", ref(shipped), "--reason", "buyer_request")
    assert code == 2 and out == ""
    assert "cannot cancel an order that is shipped" in err and "connector order show" in err
    code, _, err = run(capsys, "-c", config, "order", "ship", ref(new))
    assert code == 2 and "--ttn" in err
    code, _, err = run(capsys, "-c", config, "order", "accept", f"{ACCOUNT}:404")
    assert code == 2 and "no order" in err
    assert outbox(capsys, config) == []


def test_a_queued_ship_is_pushed_by_the_next_sync_and_shows_in_the_history(capsys, config, sandbox):
    new = sandbox.add_order(status=1)
    sync(capsys, config)
    queued = run_json(capsys, config, "order", "ship", ref(new), "--ttn", "2045 0000 0000 00")
    result = sync(capsys, config)
    assert result["push"]["done"] == [queued["id"]] and result["accounts"][0]["ok"]
    remote = sandbox.order(new)
    assert remote["status"] == 61 and remote["ttn"] == TTN
    assert [h["status_id"] for h in remote["order_status_history"]] == [1, 26, 61]
    [row] = outbox(capsys, config)
    assert row["state"] == "done" and row["attempts"] == 1 and "61" in row["result"]
    shown = run_json(capsys, config, "order", "show", ref(new))
    assert shown["status"] == "ready_to_ship" and shown["marketplace_status"] == "61"
    assert [s["ttn"] for s in shown["shipments"]] == [TTN]
    seller = [h for h in shown["history"] if h["actor"] == "seller"]
    assert len(seller) == 1 and f"command {queued['id']} (ship)" in seller[0]["comment"]
    assert seller[0]["to"] == "ready_to_ship" and shown["commands"][0]["state"] == "done"
    assert sync(capsys, config)["push"]["done"] == []  # done stays done


def test_a_buyer_message_is_sent_exactly_once(capsys, config, sandbox):
    """Exposes a bug in connector/cli/orders.py (order_message, and order_comment likewise):
    ``@click.argument("text")`` sits above ``@command_options``, so click takes TEXT before REF
    (`connector order message --help` shows ``TEXT REF``), unlike every other order command; `order message REF
    TEXT` then exits 2 with "'<TEXT>' is not an order reference"."""
    order_id = sandbox.add_order(status=26)
    sync(capsys, config)
    code, out, _ = run(capsys, "-c", config, "order", "message", ref(order_id), "Your parcel leaves today.")
    assert code == 0 and out.startswith("queued:")
    assert len(sync(capsys, config)["push"]["done"]) == 1
    sent = [(m["order_id"], m["body"]) for m in sandbox.messages_sent]
    assert sent == [(order_id, "Your parcel leaves today.")]
    code, out, _ = run(capsys, "-c", config, "order", "message", ref(order_id), "Your parcel leaves today.")
    assert code == 0 and out.startswith("already queued:")
    assert sync(capsys, config)["push"]["done"] == []
    assert len(sandbox.messages_sent) == 1


def test_order_accept_wait_without_a_daemon_exits_1_and_says_how_to_push(capsys, config, sandbox):
    new = sandbox.add_order(status=1)
    sync(capsys, config)
    code, out, err = run(capsys, "-c", config, "order", "accept", ref(new), "--wait", "--timeout", "1")
    assert code == 1 and "pending" in out
    assert "still pending" in err and "connector sync --once" in err and "connector run" in err
    assert sandbox.order(new)["status"] == 1
    assert [r["state"] for r in outbox(capsys, config)] == ["pending"]


# -- outbox --------------------------------------------------------------------------------------------------

def test_outbox_lists_retries_and_cancels_commands(capsys, config, sandbox):
    gone, kept = sandbox.add_order(status=1), sandbox.add_order(status=1)
    sync(capsys, config)
    refused = run_json(capsys, config, "order", "accept", ref(gone))["id"]
    accepted = run_json(capsys, config, "order", "accept", ref(kept))["id"]
    sandbox.set_status(gone, 45)  # the buyer cancels before the push
    code, out, _ = run(capsys, "-c", config, "sync", "--once", "--json")
    result = json.loads(out)
    assert code == 1, "a command that failed in the run makes the run fail"
    assert result["push"]["failed"] == [refused] and result["push"]["done"] == [accepted]
    assert sandbox.order(gone)["status"] == 45 and sandbox.order(kept)["status"] == 26

    assert [r["id"] for r in outbox(capsys, config)] == [accepted, refused]  # newest first
    [failed] = outbox(capsys, config, "--failed")
    assert failed["id"] == refused and "cancelled" in failed["last_error"] and failed["hint"]
    assert run_json(capsys, config, "order", "show", ref(gone))["needs_review"] is True
    code, out, _ = run(capsys, "-c", config, "outbox", "--failed")
    assert code == 0 and ref(gone) in out and "failed" in out

    code, out, _ = run(capsys, "-c", config, "outbox", "retry", str(refused))
    assert code == 0 and f"command {refused} (accept) is pending again" in out
    [row] = outbox(capsys, config, "--state", "pending")
    assert (row["id"], row["attempts"], row["last_error"]) == (refused, 0, "")
    assert outbox(capsys, config, "--failed") == []

    code, out, _ = run(capsys, "-c", config, "outbox", "cancel", str(refused))
    assert code == 0 and f"command {refused} (accept) cancelled" in out
    assert [r["state"] for r in outbox(capsys, config)] == ["done", "cancelled"]
    code, _, err = run(capsys, "-c", config, "outbox", "cancel", str(accepted))
    assert code == 2 and "only a pending command can be cancelled" in err
    code, _, err = run(capsys, "-c", config, "outbox", "retry", str(accepted))
    assert code == 2 and "is done" in err
    assert run(capsys, "-c", config, "outbox", "retry", "999999")[0] == 2
    assert sync(capsys, config)["push"]["done"] == []  # the cancelled command is never pushed
    assert sandbox.order(gone)["status"] == 45


# -- resync and remap ----------------------------------------------------------------------------------------

def test_resync_reads_one_order_again(capsys, config, sandbox):
    order_id = sandbox.add_order(status=1)
    sync(capsys, config)
    sandbox.set_status(order_id, 26)
    before = len(sandbox.requests)
    code, out, _ = run(capsys, "-c", config, "resync", ref(order_id))
    assert code == 0 and "updated" in out and "status accepted" in out
    shown = run_json(capsys, config, "order", "show", ref(order_id))
    assert (shown["status"], shown["marketplace_status"]) == ("accepted", "26")
    paths = [path for _, path, _, _ in sandbox.requests[before:]]
    assert f"/orders/{order_id}" in paths and "/orders/search" not in paths
    code, out, _ = run(capsys, "-c", config, "resync", ref(order_id))
    assert code == 0 and "unchanged" in out


def test_remap_applies_an_account_override_as_automation(capsys, config, sandbox, store, tmp_path):
    sandbox.add_order(status=26)
    sync(capsys, config)
    code, out, _ = run(capsys, "-c", config, "remap")
    assert code == 0 and f"{ACCOUNT}: 31 order(s) checked, 0 changed, 0 unparsed" in out

    override = tmp_path / "rozetka-main-mapping.yaml"
    override.write_text(yaml.safe_dump({"statuses": {"26": {"status": "processing",
                                                            "label": "Обробляється менеджером"}}},
                                       allow_unicode=True))
    remapped = write_config(tmp_path / "remapped.yaml", store, sandbox, mapping=str(override))
    in_26 = sorted(str(i) for i in sandbox.order_ids() if sandbox.order(i)["status"] == 26)
    assert in_26
    result = run_json(capsys, remapped, "remap")[ACCOUNT]
    assert result["checked"] == 31 and result["unparsed"] == []
    assert sorted(result["changed"]) == sorted(f"{ACCOUNT}:{i} accepted → processing (applied)" for i in in_26)
    shown = run_json(capsys, remapped, "order", "show", ref(in_26[0]))
    assert (shown["status"], shown["marketplace_status"]) == ("processing", "26")
    last = shown["history"][-1]
    assert (last["actor"], last["from"], last["to"], last["outcome"]) == ("automation", "accepted", "processing",
                                                                          "applied")
    assert "remapped" in last["comment"]
    untouched = next(str(i) for i in sandbox.order_ids() if sandbox.order(i)["status"] == 1)
    assert run_json(capsys, remapped, "order", "show", ref(untouched))["history"][-1]["actor"] == "marketplace"
    assert run_json(capsys, remapped, "remap")[ACCOUNT]["changed"] == []  # a second remap changes nothing


def test_a_record_without_a_usable_id_is_listed_by_quarantine_and_the_sync_goes_on(capsys, config, sandbox):
    payload = sandbox.order(sandbox.order_ids()[0])
    payload["id"] = int("9" * 80)
    sandbox.put_order(payload)
    code, _, err = run(capsys, "-c", config, "sync", "--once")
    assert code == 0, err
    listed = run_json(capsys, config, "quarantine", "--raw")
    assert [r["external_id"] for r in listed] == ["9" * 80] and "80 characters" in listed[0]["reason"]
    assert json.loads(listed[0]["body"])["id"] == int("9" * 80)
    assert len(run_json(capsys, config, "orders")) == 30


def test_ship_refuses_a_number_not_of_its_carriers_form_with_exit_2(capsys, config, sandbox):
    accepted = sandbox.add_order(status=26)
    sync(capsys, config)
    code, _, err = run(capsys, "-c", config, "order", "ship", ref(accepted), "--ttn", "12345")
    assert code == 2 and "12345" in err and "--carrier" in err
    code, _, err = run(capsys, "-c", config, "order", "ship", ref(accepted), "--ttn", "20450000000000",
                       "--carrier", "ukrposhta")
    assert code == 2 and "not a Ukrposhta tracking number" in err
    assert outbox(capsys, config) == []
    queued = run_json(capsys, config, "order", "ship", ref(accepted), "--ttn", "2045 0000 0000 00")
    assert queued["state"] == "pending"


def test_track_without_carriers_says_why_nothing_is_tracked_and_exits_0(capsys, config, sandbox):
    shipped = sandbox.add_order(status=4)
    report = sync(capsys, config)["track"]  # the cycle tracks too
    assert report["requests"] == {} and "novaposhta is not configured" in report["not_tracked"]["novaposhta"]
    again = run_json(capsys, config, "track")
    assert again["due"] == 0 and again["requests"] == {}, "not due again until track_every has passed"
    shown = run_json(capsys, config, "order", "show", ref(shipped))
    assert "not configured" in shown["shipments"][0]["not_tracked"]


# -- outside text on the terminal ----------------------------------------------------------------------------

HOSTILE = "[/bold] [link=http://x]y[/link] \x1b[31mred\x1b[0m"


def assert_shown_as_text(code: int, out: str, err: str) -> None:
    """Printed literally (markup escaped: shown as typed) or not at all; never obeyed; no escape sequences."""
    assert code in (0, 1), err
    assert "\x1b" not in out + err and "\x9b" not in out + err
    assert "Traceback" not in err and "MarkupError" not in err


def test_marketplace_text_is_printed_as_text_never_as_markup_or_escape_sequences(capsys, config, store,
                                                                                   sandbox):
    order_id = sandbox.add_order(status=4)
    payload = sandbox.order(order_id)
    payload["purchases"][0]["item_name"] = payload["purchases"][0]["item"]["name"] = f"Book {HOSTILE}"
    payload["status_data"] = {"name": f"Shipped {HOSTILE}"}
    payload["ttn"], payload["delivery"]["name_logo"] = TTN, "[/bold]\x1b[31m"  # a carrier nobody knows
    sandbox.put_order(payload)
    assert_shown_as_text(*run(capsys, "-c", config, "sync", "--once"))

    code, out, err = run(capsys, "-c", config, "orders")
    assert_shown_as_text(code, out, err)
    assert "Shipped [/bold] [link=http://x]y[/link]" in out

    code, out, err = run(capsys, "-c", config, "order", "show", ref(order_id))
    assert_shown_as_text(code, out, err)
    assert "Book [/bold] [link=http://x]y[/link] [31mred[0m" in out  # ESC dropped, the rest as typed
    assert "delivery.name_logo '[/bold][31m'" in out  # the review reason quotes the carrier

    assert_shown_as_text(*run(capsys, "-c", config, "track"))

    assert run(capsys, "-c", config, "order", "comment", ref(order_id), "hello")[0] == 0
    with store.engine.begin() as conn:  # what a marketplace answered a failed push, word for word
        conn.execute(CommandRow.__table__.update().values(state="failed", last_error=f"Rozetka: {HOSTILE}",
                                                          hint=f"see {HOSTILE}"))
    code, out, err = run(capsys, "-c", config, "outbox")
    assert_shown_as_text(code, out, err)
    assert "Rozetka: [/bold] [link=http://x]y[/link]" in out

    with store.transaction() as session:  # a record that could not become an order, kept with its raw body
        session.add(QuarantineRow(marketplace="rozetka", account=ACCOUNT, external_id=f"9{HOSTILE}",
                                  reason=f"why: {HOSTILE}", content_type="application/json", sha256="0" * 64,
                                  body=f'{{"id": "9{HOSTILE}"}}', first_seen_at=utcnow(),
                                  last_seen_at=utcnow()))
    code, out, err = run(capsys, "-c", config, "quarantine", "--raw")
    assert_shown_as_text(code, out, err)
    assert "why: [/bold] [link=http://x]y[/link]" in out and '{"id": "9[/bold] [link=http://x]y[/link]' in out

    # an error that quotes the REF
    code, _, err = run(capsys, "-c", config, "order", "show", f"{ACCOUNT}:{HOSTILE}")
    assert code == 2 and "\x1b" not in err and "Traceback" not in err
