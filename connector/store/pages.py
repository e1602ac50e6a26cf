"""Writing a page of pulled orders at once.

An account's first import is page after page of orders the store has never seen; written a statement per row (look
up, insert, flush, lines, history, payload, feed event) it cost ~6 ms of CPU per order, several times what reading
the page cost (bench/README.md, the profile). Here one query finds which of the page's orders exist, and the new ones
are inserted with one statement per table for the whole page. An order that exists goes through ``merge`` like any
other: unchanged writes nothing, changed is updated through the lifecycle.

Each order's result is what ``upsert_pulled`` would have returned for it, in the page's order, and the store holds
the same rows and feed events (for one order: created, then its parcels).

A new order that another writer inserted since the lookup fails the orders' INSERT on the identity constraint, and
with it the caller's transaction: the pull then writes the page again record by record (connector/sync/pull.py),
where each such order merges into the winner's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import Actor, Order, OrderKey, RawPayload, utcnow
from connector.store.engine import returning_is_cheap
from connector.store.events import EventKind, append_many, event_columns
from connector.store.orders import (
    Upsert,
    UpsertResult,
    history_columns,
    line_columns,
    merge,
    order_columns,
    order_created,
    shipment_added,
    shipment_columns,
    upsert_pulled,
)
from connector.store.payloads import payload_columns
from connector.store.tables import OrderLineRow, OrderRow, RawPayloadRow, ShipmentRow, StatusHistoryRow


def upsert_page(session: Session, items: Sequence[tuple[Order, RawPayload]], *,
                now: datetime | None = None) -> list[UpsertResult]:
    """Merge a page of pulled orders (each with its raw payload) into the store, in the caller's transaction."""
    now = now or utcnow()
    stored = _existing(session, [order.key for order, _ in items])
    results: list[UpsertResult | None] = [None] * len(items)
    new: dict[OrderKey, int] = {}
    repeats: list[int] = []  # a new order listed twice in one page: merged into the first once it is inserted
    for i, (order, raw) in enumerate(items):
        row = stored.get(order.key)
        if row is not None:
            results[i] = merge(session, row, order, raw, now=now)
        elif order.key in new:
            repeats.append(i)
        else:
            new[order.key] = i
    for i, result in zip(new.values(), _insert(session, [items[i] for i in new.values()], now)):
        results[i] = result
    for i in repeats:
        results[i] = upsert_pulled(session, *items[i], now=now)
    return results  # type: ignore[return-value]  (every slot is filled above)


def _existing(session: Session, keys: list[OrderKey]) -> dict[OrderKey, OrderRow]:
    by_account: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in keys:
        by_account[key.marketplace, key.account].append(key.external_id)
    found: dict[OrderKey, OrderRow] = {}
    for (marketplace, account), ids in by_account.items():
        rows = session.exec(select(OrderRow).where(OrderRow.marketplace == marketplace, OrderRow.account == account,
                                                   OrderRow.external_id.in_(ids))).all()
        found.update({OrderKey(r.marketplace, r.account, r.external_id): r for r in rows})
    return found


def _insert(session: Session, items: list[tuple[Order, RawPayload]], now: datetime) -> list[UpsertResult]:
    if not items:
        return []
    # Everything is computed before the first statement: a value that does not fit fails the page before it writes.
    orders, events = [], []
    for pulled, raw in items:
        order = replace(pulled, progress=-1, status_changed_at=None)  # a mapping's review note stays
        events.append(order.propose_status(pulled.status, actor=Actor.MARKETPLACE,
                                           marketplace_status=pulled.marketplace_status,
                                           occurred_at=pulled.changed_at, first=True, now=now))
        orders.append(order_columns(order) | {"synced_at": now, "payload_sha256": raw.sha256, "version": 1})
    table = OrderRow.__table__
    # The returned rows are matched to the page by identity, which holds whatever order a database returns them in.
    if returning_is_cheap(session):  # the ids come back with the INSERT, matched by identity (in any order)
        inserted = session.execute(table.insert().returning(
            table.c.id, table.c.marketplace, table.c.account, table.c.external_id), orders)
        ids = {tuple(identity): order_id for order_id, *identity in inserted}
    else:
        session.execute(table.insert(), orders)
        ids = _ids(session, {_identity(columns) for columns in orders})
    lines, shipments, history, payloads, feed = [], [], [], [], []
    for (pulled, raw), columns, event in zip(items, orders, events):
        ident = (ids[_identity(columns)], columns["marketplace"], columns["account"], columns["external_id"])
        order_id = ident[0]
        feed.append(event_columns(EventKind.ORDER_CREATED, ident, order_created(columns), now=now))
        lines += line_columns(order_id, pulled.lines)
        ttns = set()
        for shipment in pulled.shipments:
            if shipment.ttn and shipment.ttn not in ttns:
                ttns.add(shipment.ttn)
                shipments.append(shipment_columns(order_id, shipment, now))
                feed.append(event_columns(EventKind.SHIPMENT_CHANGED, ident, shipment_added(shipment), now=now))
        history.append(history_columns(order_id, event))
        payloads.append(payload_columns(raw, order_id, now))
    for model, rows in ((OrderLineRow, lines), (ShipmentRow, shipments), (StatusHistoryRow, history),
                        (RawPayloadRow, payloads)):
        if rows:
            session.execute(sa.insert(model.__table__), rows)
    append_many(session, feed)
    return [UpsertResult(Upsert.CREATED, ids[_identity(columns)], event) for columns, event in zip(orders, events)]


def _ids(session: Session, identities: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    by_account: dict[tuple[str, str], list[str]] = defaultdict(list)
    for marketplace, account, external_id in identities:
        by_account[marketplace, account].append(external_id)
    t, ids = OrderRow.__table__, {}
    for (marketplace, account), external_ids in by_account.items():
        rows = session.execute(sa.select(t.c.id, t.c.external_id).where(
            t.c.marketplace == marketplace, t.c.account == account, t.c.external_id.in_(external_ids)))
        ids.update({(marketplace, account, external_id): order_id for order_id, external_id in rows})
    return ids


def _identity(columns: dict) -> tuple[str, str, str]:
    return columns["marketplace"], columns["account"], columns["external_id"]
