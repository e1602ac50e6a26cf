"""The change feed: every change once, in commit order, from the store functions themselves, on both stores."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from connector.domain import Actor, Status
from connector.domain.tracking import ParcelReport
from connector.domain import ShipmentStatus
from connector.store import Store
from connector.store.commands import enqueue, finish, lease_due
from connector.store.events import EventKind, append_for, head, since
from connector.store.orders import propose
from connector.store.shipments import record
from connector.store.tables import FeedCounterRow, OrderEventRow, OrderRow, ShipmentRow
from connector.domain import build_command
from tests.factories import T0, pulled
from tests.integration.test_store import put


def feed(store: Store, position: int = 0) -> list[dict]:
    with store.reading() as session:
        return [e.as_json() for e in since(session, position, limit=10_000)]


def test_each_change_is_journalled_where_it_is_written(store):
    created = put(store, pulled("1"))
    put(store, pulled("1", Status.ACCEPTED, code="26", minutes=5, ttn="20450000000000"))
    put(store, pulled("1", Status.ACCEPTED, code="26", minutes=5, ttn="20450000000000"))  # the same page: nothing
    put(store, pulled("1", Status.NEW, code="1", minutes=6, ttn="20450000000000"))  # a regression: kept, no change
    with store.transaction() as session:
        shipment = session.exec(select(ShipmentRow)).one()
        report = ParcelReport(ttn="20450000000000", status=ShipmentStatus.IN_TRANSIT, code="5", text="on its way")
        record(session, shipment.id, report, next_check_at=T0 + timedelta(hours=1), now=T0 + timedelta(hours=1))
        propose(session, created.order_id, Status.SHIPPED, actor=Actor.AUTOMATION, comment="the carrier has it")
    with store.transaction() as session:
        order = session.get(OrderRow, created.order_id)
        command = enqueue(session, order, build_command("comment", {"text": "packed"})).row
        lease_due(session, "me", ttl=timedelta(minutes=1), accounts=["rozetka-main"])
    with store.transaction() as session:
        finish(session, command.id, "me", state="done", result="comment added")

    events = feed(store)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # no gaps, no repeats
    assert [e["kind"] for e in events] == [
        "order.created", "order.status_changed", "shipment.changed", "shipment.changed", "order.status_changed",
        "command.done"]
    assert {"from": "new", "to": "accepted", "actor": "marketplace"}.items() <= events[1]["data"].items()
    assert events[2]["data"]["change"] == "added" and events[2]["data"]["ttn"] == "20450000000000"
    assert events[3]["data"]["before"] == "created" and events[3]["data"]["status"] == "in_transit"
    assert events[4]["data"]["to"] == "shipped" and events[4]["data"]["actor"] == "automation"
    assert events[5]["data"]["command_id"] == command.id and events[5]["data"]["result"] == "comment added"
    assert all(e["order"]["id"] == created.order_id and e["order"]["account"] == "rozetka-main" for e in events)
    assert "Test Buyer" not in str(events) and "380000000000" not in str(events)
    assert feed(store, 4) == events[4:]


def test_a_failed_command_is_journalled(store):
    order_id = put(store, pulled("1")).order_id
    with store.transaction() as session:
        command = enqueue(session, session.get(OrderRow, order_id), build_command("accept")).row
        lease_due(session, "me", ttl=timedelta(minutes=1), accounts=["rozetka-main"])
    with store.transaction() as session:
        assert finish(session, command.id, "me", state="failed", error="refused", hint="look")
        assert not finish(session, command.id, "someone-else", state="failed", error="late")  # not ours: no event
    [failed] = [e for e in feed(store) if e["kind"].startswith("command.")]
    assert failed["kind"] == "command.failed" and failed["data"]["error"] == "refused"


def test_a_rolled_back_transaction_or_savepoint_leaves_no_event_and_no_gap(store):
    with pytest.raises(RuntimeError), store.transaction() as session:
        put_in(session, "1")
        raise RuntimeError("the unit of work fails")
    with store.transaction() as session:
        with pytest.raises(RuntimeError), session.begin_nested():
            put_in(session, "2")
            raise RuntimeError("one record fails")
        put_in(session, "3")
    events = feed(store)
    assert [(e["seq"], e["order"]["external_id"]) for e in events] == [(1, "3")]


def put_in(session, external_id: str) -> None:
    from connector.store.orders import upsert_pulled
    from tests.factories import raw_of

    order = pulled(external_id)
    upsert_pulled(session, order, raw_of(order), now=order.changed_at)


def test_the_counter_is_made_again_after_the_store_was_emptied_by_hand(store):
    put(store, pulled("1"))
    with store.transaction() as session:
        session.execute(sa.delete(FeedCounterRow))
    put(store, pulled("2"))
    assert [e["seq"] for e in feed(store)] == [1, 2]


def test_a_transaction_that_commits_late_is_read_after_one_that_committed_first(pg_store):
    """The gap an id from a sequence would leave: A inserts first and commits last. A reader that followed the
    row ids would see B's event, remember its id, and never read A's. Positions given at commit cannot."""
    from tests.conftest import empty

    empty(pg_store)
    order_a, order_b = put(pg_store, pulled("A")).order_id, put(pg_store, pulled("B")).order_id
    start = head_of(pg_store)
    a_appended, b_committed = threading.Event(), threading.Event()

    def writer_a():
        with pg_store.transaction() as session:
            append_for(session, EventKind.ORDER_CREATED, order_a, {"writer": "A"})
            a_appended.set()
            b_committed.wait(10)

    thread = threading.Thread(target=writer_a)
    thread.start()
    a_appended.wait(10)
    with pg_store.transaction() as session:
        append_for(session, EventKind.ORDER_CREATED, order_b, {"writer": "B"})
    first = feed(pg_store, start)  # read while A is still open: A must not have committed yet
    b_committed.set()
    thread.join(10)
    second = feed(pg_store, first[-1]["seq"])
    assert [e["data"]["writer"] for e in first] == ["B"] and [e["data"]["writer"] for e in second] == ["A"]
    with pg_store.reading() as session:
        rows = session.exec(select(OrderEventRow).where(OrderEventRow.seq > start).order_by(OrderEventRow.seq)).all()
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)  # the ids say A first: they lie


def head_of(store: Store) -> int:
    with store.reading() as session:
        return head(session)


def test_a_follower_gets_every_event_of_two_concurrent_writers_once_in_commit_order(pg_store):
    from tests.conftest import empty

    empty(pg_store)
    per_writer = 40
    orders = {w: put(pg_store, pulled(f"order-{w}")).order_id for w in ("a", "b")}
    start = head_of(pg_store)
    done = threading.Event()

    def writer(name: str) -> None:
        rng = random.Random(name)
        for n in range(per_writer):
            with pg_store.transaction() as session:
                append_for(session, EventKind.STATUS_CHANGED, orders[name], {"writer": name, "n": n, "part": 0})
                time.sleep(rng.random() * 0.01)  # hold the transaction open: the other writer commits meanwhile
                append_for(session, EventKind.STATUS_CHANGED, orders[name], {"writer": name, "n": n, "part": 1})

    seen: list[dict] = []

    def follower() -> None:
        position = start
        while True:
            finished = done.is_set()  # read before the look: the look after the writers ended sees everything
            batch = feed(pg_store, position)
            for event in batch:
                assert event["seq"] == position + 1, "a position was skipped or repeated"
                position = event["seq"]
            seen.extend(batch)
            if finished and not batch:
                return
            time.sleep(0.002)

    threads = [threading.Thread(target=writer, args=(w,)) for w in ("a", "b")]
    reader = threading.Thread(target=follower)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    reader.join(60)
    got = [(e["data"]["writer"], e["data"]["n"], e["data"]["part"]) for e in seen]
    assert len(got) == len(set(got)) == 2 * 2 * per_writer  # every event, once
    # A transaction's events stay together, and transactions follow each other in commit order.
    transactions = [got[i][:2] for i in range(0, len(got), 2)]
    assert all(got[i][:2] == got[i + 1][:2] and (got[i][2], got[i + 1][2]) == (0, 1) for i in range(0, len(got), 2))
    for name in ("a", "b"):  # each writer's transactions in the order it committed them
        assert [n for w, n in transactions if w == name] == list(range(per_writer))
    switches = sum(1 for x, y in zip(transactions, transactions[1:]) if x[0] != y[0])
    assert switches > 1, "the writers did not run at the same time: the test proved nothing"
