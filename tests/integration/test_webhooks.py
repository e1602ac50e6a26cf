"""Outbound webhooks against a real local receiver: down for a day, then everything arrives once, signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.config import parse_settings
from connector.domain import Status, build_command
from connector.store.commands import enqueue, finish, lease_due
from connector.store.deliveries import lease, list_deliveries, retry
from connector.store.tables import OrderRow
from connector.sync.webhooks import backoff, deliver_due
from tests.factories import T0, pulled
from tests.integration.test_store import put

SECRET = "s3cret-for-tests"


class Receiver:
    """An HTTP receiver on 127.0.0.1 that answers 503 while ``down`` is set."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.got: list[tuple[dict, bytes]] = []  # (headers, body) of the requests it accepted
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down.is_set():
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"down for maintenance")
                    return
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def settings_for(url: str, **extra):
    return parse_settings({"webhooks": [
        {"name": "erp", "url": url, "events": ["*"], "secret_env": "TEST_WEBHOOK_SECRET", **extra},
        {"name": "done-only", "url": url, "events": ["command.done"], "secret_env": "TEST_WEBHOOK_SECRET"}]})


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)


def happen(store) -> None:
    """Some changes: two orders, a status change, a command done."""
    first = put(store, pulled("1")).order_id
    put(store, pulled("2"))
    put(store, pulled("1", Status.ACCEPTED, code="26", minutes=5))
    with store.transaction() as session:
        command = enqueue(session, session.get(OrderRow, first), build_command("comment", {"text": "x"})).row
        lease_due(session, "pusher", ttl=timedelta(minutes=1), accounts=["rozetka-main"])
    with store.transaction() as session:
        finish(session, command.id, "pusher", state="done", result="comment added")


def test_a_receiver_down_for_a_day_gets_every_event_once_signed_when_it_recovers(store, receiver):
    settings = settings_for(receiver.url)
    assert deliver_due(store, settings, now=T0).written == 0  # the subscriptions start at the feed's head
    happen(store)
    receiver.down.set()
    now = T0
    for _ in range(24):  # a day, a run every hour
        now += timedelta(hours=1)
        summary = deliver_due(store, settings, now=now)
        assert summary.delivered == [] and summary.failed == []
    assert receiver.refused >= 24 and receiver.got == []
    with store.reading() as session:
        waiting = list_deliveries(session)
    assert {d.state for d in waiting} == {"pending"} and len(waiting) == 4 + 1  # 4 events to erp, 1 to done-only
    assert max(d.next_attempt_at for d in waiting) <= now + timedelta(hours=1)  # the backoff is capped

    receiver.down.clear()
    for _ in range(3):
        now += timedelta(hours=1)
        deliver_due(store, settings, now=now)
    by_sub: dict[str, list[dict]] = {}
    deliveries = set()
    for headers, body in receiver.got:
        assert headers["x-connector-signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256) \
            .hexdigest()
        event = json.loads(body)
        assert headers["x-connector-delivery"] == event["delivery_id"] and headers["x-connector-event"] == event["kind"]
        deliveries.add(event["delivery_id"])
        by_sub.setdefault(event["subscription"], []).append(event)
    assert len(deliveries) == len(receiver.got) == 5  # each once
    assert sorted(e["seq"] for e in by_sub["erp"]) == [1, 2, 3, 4]
    assert [e["kind"] for e in sorted(by_sub["erp"], key=lambda e: e["seq"])] == [
        "order.created", "order.created", "order.status_changed", "command.done"]
    assert [e["kind"] for e in by_sub["done-only"]] == ["command.done"]
    with store.reading() as session:
        assert {d.state for d in list_deliveries(session)} == {"done"}
    assert deliver_due(store, settings, now=now + timedelta(hours=1)).delivered == []  # nothing sent twice


def test_a_delivery_too_old_fails_visibly_and_is_sent_again_by_hand(store, receiver):
    settings = settings_for(receiver.url, give_up_after="6h")
    deliver_due(store, settings, now=T0)
    put(store, pulled("1"))
    receiver.down.set()
    now = T0
    for _ in range(10):
        now += timedelta(hours=1)
        deliver_due(store, settings, now=now)
    with store.reading() as session:
        [failed] = list_deliveries(session, state="failed")
    assert failed.subscription == "erp" and "gave up after" in failed.last_error and "HTTP 503" in failed.last_error
    receiver.down.clear()
    assert deliver_due(store, settings, now=now + timedelta(hours=1)).delivered == []  # failed stays failed
    with store.transaction() as session:
        retry(session, failed.id, now=now)
    assert deliver_due(store, settings, now=now + timedelta(minutes=1)).delivered == [failed.id]
    assert len(receiver.got) == 1


def test_a_delivery_is_never_leased_twice_at_once(store):
    settings = settings_for("http://127.0.0.1:9/hook")
    deliver_due(store, settings.model_copy(update={"webhooks": []}), now=T0)
    from connector.store.deliveries import fan_out

    with store.transaction() as session:
        fan_out(session, "erp", lambda kind: True, now=T0)
    put(store, pulled("1"))
    put(store, pulled("2"))
    with store.transaction() as session:
        assert fan_out(session, "erp", lambda kind: True, now=T0) == 2
    with store.transaction() as session:
        assert fan_out(session, "erp", lambda kind: True, now=T0) == 0  # the cursor moved: written once
    with store.transaction() as session:
        a = lease(session, "a", ttl=timedelta(minutes=1), subscriptions=["erp"], now=T0)
    with store.transaction() as session:
        b = lease(session, "b", ttl=timedelta(minutes=1), subscriptions=["erp"], now=T0)
    with store.transaction() as session:
        c = lease(session, "c", ttl=timedelta(minutes=1), subscriptions=["erp"], now=T0)
    assert len(a) == len(b) == 1 and a[0].id != b[0].id and c == []
    with store.transaction() as session:  # a holder that died: its lease runs out and another takes it
        d = lease(session, "d", ttl=timedelta(minutes=1), subscriptions=["erp"], now=T0 + timedelta(minutes=2))
    assert [x.id for x in d] == [a[0].id] and d[0].attempts == 2


def test_the_backoff_grows_then_stays_at_its_cap():
    waits = [backoff(n, timedelta(hours=1)) for n in range(1, 10)]
    assert waits[0] == timedelta(seconds=10) and waits == sorted(waits) and waits[-1] == timedelta(hours=1)


def test_a_webhook_needs_a_secret_from_the_environment_and_never_inline():
    from connector.errors import ConfigError

    with pytest.raises(ConfigError, match="secret_env"):
        parse_settings({"webhooks": [{"name": "x", "url": "https://erp.example.com/h", "events": ["*"]}]})
    with pytest.raises(ConfigError, match="must not be written"):
        parse_settings({"webhooks": [{"name": "x", "url": "https://erp.example.com/h", "events": ["*"],
                                      "secret": "plain"}]})
    with pytest.raises(ConfigError, match="unknown event"):
        parse_settings({"webhooks": [{"name": "x", "url": "https://erp.example.com/h", "events": ["order.gone"],
                                      "secret_env": "X"}]})
    with pytest.raises(ConfigError, match="plain http"):
        parse_settings({"webhooks": [{"name": "x", "url": "http://erp.example.com/h", "events": ["*"],
                                      "secret_env": "X"}]})
