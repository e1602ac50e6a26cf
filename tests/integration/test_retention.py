"""Retention on SQLite and PostgreSQL: what is purged, what stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import func, select

from connector.domain import Status
from connector.store.orders import keep_unparsed, quarantine, upsert_pulled
from connector.store.retention import purge, purge_all
from connector.store.tables import OrderRow, QuarantineRow, RawPayloadRow, StatusHistoryRow
from connector.domain import OrderKey, RawPayload
from tests.factories import T0, pulled, raw_of

YEAR = timedelta(days=365)


def _versions(store, external_id: str, status: Status, code: str, count: int) -> int:
    """An order that changed ``count`` times: one raw payload per distinct version."""
    with store.transaction() as session:
        for minute in range(count):
            order = pulled(external_id, status, code=code, minutes=minute)
            order = replace(order, total=order.total + minute)
            order_id = upsert_pulled(session, order, raw_of(order), now=order.changed_at).order_id
    return order_id


def _payloads(store, order_id: int) -> int:
    with store.reading() as session:
        return session.exec(select(func.count()).select_from(RawPayloadRow)
                            .where(RawPayloadRow.order_id == order_id)).one()


def test_a_finished_order_past_the_window_loses_its_payloads_and_buyer_data_and_keeps_its_books(store):
    done = _versions(store, "1", Status.COMPLETED, "6", 3)
    live = _versions(store, "2", Status.SHIPPED, "4", 14)
    recent = _versions(store, "3", Status.COMPLETED, "6", 2)
    with store.transaction() as session:
        session.get(OrderRow, recent).status_changed_at = T0 + YEAR * 2  # finished lately: kept whole
    now = T0 + YEAR * 2 + timedelta(days=1)
    with store.transaction() as session:
        dry = purge(session, finished_after=YEAR, versions=10, now=now, dry_run=True)
    assert (dry.orders, _payloads(store, done)) == (1, 3), "a dry run removes nothing"
    with store.transaction() as session:
        result = purge(session, finished_after=YEAR, versions=10, now=now)
    assert result.orders == 1 and result.payloads == 3 + 4
    with store.reading() as session:
        order = session.get(OrderRow, done)
        history = session.exec(select(func.count()).select_from(StatusHistoryRow)
                               .where(StatusHistoryRow.order_id == done)).one()
    assert (order.buyer_name, order.buyer_phone, order.buyer_email) == ("", "", "")
    assert order.total and history >= 1, "the order and its history stay for the books"
    assert (_payloads(store, done), _payloads(store, live), _payloads(store, recent)) == (0, 10, 2)


def test_quarantined_records_not_seen_within_the_window_are_removed(store):
    key = OrderKey("rozetka", "rozetka-main", "9" * 80)
    with store.transaction() as session:
        quarantine(session, key, RawPayload('{"id": 1}'), "an order id of 80 characters", now=T0)
        quarantine(session, key, RawPayload('{"id": 2}'), "an order id of 80 characters", now=T0 + YEAR * 2)
    with store.transaction() as session:
        assert purge(session, finished_after=YEAR, versions=10, now=T0 + YEAR + timedelta(days=1)).quarantined == 1
    with store.reading() as session:
        assert len(session.exec(select(QuarantineRow)).all()) == 1


def test_purge_all_removes_everything_due_and_leaves_orders_in_play(store):
    for i in range(5):
        _versions(store, str(100 + i), Status.CANCELLED, "45", 2)
    with store.transaction() as session:
        keep_unparsed(session, OrderKey("rozetka", "rozetka-main", "x"), RawPayload("{}"), "does not parse")
    result = purge_all(store, finished_after=timedelta(seconds=1), versions=10)
    assert result.orders == 5
    with store.reading() as session:
        assert session.exec(select(func.count()).select_from(RawPayloadRow)
                            .join(OrderRow).where(OrderRow.status == "cancelled")).one() == 0
