"""The HTTP API over both stores: keys and scopes, the same refusals as the CLI, 202 and a readable command,
cursor pages, the feed, and an OpenAPI document that cannot drift from the code."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from connector.api import create_app, openapi_document
from connector.config import parse_settings
from connector.domain import Status
from connector.store.accounts import record_run
from connector.store.api_keys import create
from connector.store.commands import finish, lease_due
from connector.store.tables import ApiKeyRow, CommandRow
from tests.factories import T0, pulled
from tests.integration.test_store import put

ROOT = Path(__file__).resolve().parents[2]
TTN = "20450000000000"


@pytest.fixture
def settings():
    return parse_settings({"accounts": [{"name": "rozetka-main", "marketplace": "rozetka",
                                         "base_url": "http://127.0.0.1:9", "username": "shop@example.com",
                                         "password_env": "TEST_ROZETKA_PASSWORD"}],
                           "api": {"max_wait": "2s"}})


@pytest.fixture
def client(store, settings):
    with TestClient(create_app(settings, store)) as c:
        yield c


def key(store, scope: str, name: str | None = None) -> dict:
    with store.transaction() as session:
        made = create(session, name or f"{scope}-key", scope)
    return {"Authorization": f"Bearer {made.key}"}


def commands(store) -> list[CommandRow]:
    with store.reading() as session:
        return list(session.exec(select(CommandRow).order_by(CommandRow.id)).all())


def test_no_key_is_401_an_unknown_or_revoked_key_401_and_a_read_key_cannot_write(client, store):
    put(store, pulled("1"))
    assert client.get("/orders").status_code == 401
    assert client.get("/orders", headers={"Authorization": "Bearer ck_nope"}).status_code == 401
    read, write = key(store, "read"), key(store, "write")
    assert client.get("/orders", headers=read).status_code == 200
    assert client.get("/orders", headers={"X-API-Key": read["Authorization"][7:]}).status_code == 200
    body = {"order": "rozetka-main:1", "kind": "accept"}
    refused = client.post("/commands", json=body, headers=read)
    assert refused.status_code == 403 and "read" in refused.json()["error"] and commands(store) == []
    assert client.post("/commands", json=body, headers=write).status_code == 202
    from connector.store.api_keys import revoke
    with store.transaction() as session:
        revoke(session, "read-key")
    assert client.get("/orders", headers=read).status_code == 401


def test_keys_are_stored_only_as_their_hash(store):
    with store.transaction() as session:
        made = create(session, "erp", "write")
    with store.reading() as session:
        row = session.exec(select(ApiKeyRow)).one()
    assert made.key not in json.dumps(row.model_dump(), default=str) and len(row.key_sha256) == 64
    assert made.key.startswith(row.prefix)


@pytest.mark.parametrize("body, reason", [
    ({"order": "rozetka-main:404", "kind": "accept"}, "no order 'rozetka-main:404'"),
    ({"order": "rozetka-main:1", "kind": "ship", "payload": {"ttn": "12345"}}, "ship"),
    ({"order": "rozetka-main:1", "kind": "ship", "payload": {"ttn": "RB123456789UA", "carrier": "novaposhta"}},
     "is not a Nova Poshta tracking number"),
    ({"order": "rozetka-main:1", "kind": "message_buyer", "payload": {"text": "call me on +380 67 123 45 67"}},
     "contact data"),
    ({"order": "rozetka-main:2", "kind": "cancel", "payload": {"reason": "buyer_request"}},
     "cannot cancel an order that is shipped"),
    ({"order": "rozetka-main:1", "kind": "cancel", "payload": {"reason": "because"}}, "cancel reason"),
    ({"order": "rozetka-main:1", "kind": "accept", "payload": {"colour": "red"}}, "does not take colour"),
])
def test_a_refused_command_is_422_with_the_reason_and_nothing_is_queued(client, store, body, reason):
    put(store, pulled("1"))
    put(store, pulled("2", Status.SHIPPED, code="4", ttn=TTN))
    answer = client.post("/commands", json=body, headers=key(store, "write"))
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["error"], answer.json()
    assert commands(store) == []


def test_a_command_is_202_with_its_id_readable_and_awaitable_and_idempotent_by_key(client, store):
    put(store, pulled("1"))
    headers = key(store, "write", "erp")
    body = {"order": "rozetka-main:1", "kind": "ship", "payload": {"ttn": "2045 0000 0000 00"}}
    first = client.post("/commands", json=body, headers=headers | {"Idempotency-Key": "erp:INV-1"})
    assert first.status_code == 202 and first.json()["created"] is True and first.json()["state"] == "pending"
    command_id = first.json()["id"]
    again = client.post("/commands", json=body | {"idempotency_key": "erp:INV-1"}, headers=headers)
    assert again.status_code == 202 and again.json()["id"] == command_id and again.json()["created"] is False
    [row] = commands(store)
    assert row.requested_by == "api:erp" and json.loads(row.payload) == {"ttn": TTN, "carrier": "novaposhta"}

    read = key(store, "read")
    shown = client.get(f"/commands/{command_id}", headers=read).json()
    assert shown["state"] == "pending" and shown["order"] == "rozetka-main:1" and shown["kind"] == "ship"
    waited = client.get(f"/commands/{command_id}?wait=0.3", headers=read).json()
    assert waited["state"] == "pending"  # nobody pushed it: the wait ends at its limit
    with store.transaction() as session:
        lease_due(session, "pusher", ttl=timedelta(minutes=1), accounts=["rozetka-main"])
    with store.transaction() as session:
        finish(session, command_id, "pusher", state="done", result="TTN set; status 61")
    done = client.get(f"/commands/{command_id}?wait=5", headers=read).json()
    assert done["state"] == "done" and done["result"] == "TTN set; status 61"
    assert client.get("/commands/999999", headers=read).status_code == 404


def test_a_second_open_command_of_the_same_kind_is_409_and_a_known_ttn_is_done_at_once(client, store):
    put(store, pulled("1"))
    headers = key(store, "write")
    assert client.post("/commands", json={"order": "rozetka-main:1", "kind": "accept"}, headers=headers) \
        .status_code == 202
    twice = client.post("/commands", json={"order": "rozetka-main:1", "kind": "accept", "payload":
                                           {"comment": "again"}}, headers=headers)
    assert twice.status_code == 409 and "already has an open accept command" in twice.json()["error"]
    # comments may follow one another
    for text in ("packed", "sent"):
        assert client.post("/commands", json={"order": "rozetka-main:1", "kind": "comment",
                                              "payload": {"text": text}}, headers=headers).status_code == 202
    assert len(commands(store)) == 3

    put(store, pulled("2", Status.READY_TO_SHIP, code="61", ttn=TTN))
    shipped = client.post("/commands", json={"order": "rozetka-main:2", "kind": "ship", "payload": {"ttn": TTN}},
                          headers=headers)
    assert shipped.status_code == 202 and shipped.json()["state"] == "done"
    assert "already done" in shipped.json()["result"]
    events = client.get("/events?kind=command.done", headers=headers).json()["items"]
    assert [e["data"]["command_id"] for e in events] == [shipped.json()["id"]]


def test_orders_come_in_cursor_pages_each_once(client, store):
    for n in range(7):
        put(store, pulled(str(n), minutes=n))
    headers = key(store, "read")
    seen, cursor, pages = [], None, 0
    while True:
        page = client.get("/orders", params={"limit": 3} | ({"cursor": cursor} if cursor else {}),
                          headers=headers).json()
        seen += [o["external_id"] for o in page["items"]]
        pages += 1
        put(store, pulled(str(6 - pages), minutes=30 + pages))  # orders change between pages: nothing moves
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(n) for n in range(6, -1, -1)] and pages == 3
    assert client.get("/orders?cursor=abc", headers=headers).status_code == 422
    only = client.get("/orders", params={"status": "new", "account": "rozetka-main",
                                         "since": (T0 + timedelta(minutes=31)).isoformat()}, headers=headers).json()
    assert {o["external_id"] for o in only["items"]} == {"4", "3"}


def test_one_order_in_full_and_accounts_with_their_health(client, store):
    put(store, pulled("1", ttn=TTN))
    headers = key(store, "read")
    order = client.get("/orders/rozetka-main:1", headers=headers).json()
    assert order["lines"][0]["sku"] == "12106" and order["shipments"][0]["ttn"] == TTN
    assert [h["to"] for h in order["history"]] == ["new"] and order["commands"] == []
    assert client.get("/orders/rozetka-main:nope", headers=headers).status_code == 404
    [account] = client.get("/accounts", headers=headers).json()["items"]
    assert account["name"] == "rozetka-main" and account["ok"] is False and account["last_pull_ok_at"] is None
    with store.transaction() as session:
        record_run(session, "rozetka-main", ok=True)
    assert client.get("/accounts/rozetka-main", headers=headers).json()["ok"] is True
    assert client.get("/accounts/nope", headers=headers).status_code == 404


def test_the_feed_from_a_position_with_a_wait(client, store):
    headers = key(store, "read")
    empty = client.get("/events?since=0&wait=0.2", headers=headers).json()
    assert empty == {"items": [], "next": 0}
    put(store, pulled("1"))
    put(store, pulled("1", Status.ACCEPTED, code="26", minutes=1))
    page = client.get("/events?since=0&limit=1", headers=headers).json()
    assert [e["kind"] for e in page["items"]] == ["order.created"] and page["next"] == 1
    rest = client.get(f"/events?since={page['next']}", headers=headers).json()
    assert [e["kind"] for e in rest["items"]] == ["order.status_changed"] and rest["next"] == 2


def test_the_published_openapi_document_is_what_the_app_generates():
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == openapi_document(), "docs/openapi.json is stale: `connector api --openapi > docs/openapi.json`"
    assert {"/orders", "/orders/{ref}", "/accounts", "/events", "/commands", "/commands/{command_id}"} <= \
        set(committed["paths"])
