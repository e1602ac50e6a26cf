"""Raw payloads compressed at rest, on SQLite and PostgreSQL: round trips, deduplication, rows written before
compression, the migration both ways, retention."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from connector.domain import RawPayload, Status
from connector.store import Store
from connector.store.migrate import alembic_config, upgrade
from connector.store.orders import latest_raw, upsert_pulled
from connector.store.payloads import COMPRESS_FROM, payload_columns, read_payload
from connector.store.retention import purge
from connector.store.tables import RawPayloadRow, UTCDateTime
from tests.conftest import BACKENDS, PG_URL, _admin_engine
from tests.factories import T0, pulled

BEFORE = "0008"  # the last revision without compressed payloads
AT = sa.bindparam("t", type_=UTCDateTime)  # each database's own form of a UTC timestamp


def large_raw(order, note: str = "") -> RawPayload:
    """A payload the size of a real order's (several KB, Cyrillic as sent), different for each version."""
    return RawPayload(json.dumps({"id": order.key.external_id, "status": order.marketplace_status.code,
                                  "changed": order.changed_at.isoformat(), "note": note,
                                  "delivery": {"recipient_title": "Шевченко Олена Петрівна", "city": "Київ"},
                                  "purchases": [{"item_name": "Навушники JBL Tune 510BT Black", "n": n}
                                                for n in range(60)]}, ensure_ascii=False))


def put(store, order, raw):
    with store.transaction() as session:
        return upsert_pulled(session, order, raw, now=order.changed_at)


def stored(store, order_id: int) -> list[RawPayloadRow]:
    with store.reading() as session:
        return list(session.exec(select(RawPayloadRow).where(RawPayloadRow.order_id == order_id)
                                 .order_by(RawPayloadRow.id)).all())


def test_a_large_body_is_stored_compressed_and_read_back_whole(store):
    order = pulled()
    raw = large_raw(order)
    assert len(raw.body.encode()) > 4 * COMPRESS_FROM
    order_id = put(store, order, raw).order_id
    [row] = stored(store, order_id)
    assert row.body == "" and len(row.body_z) < len(raw.body.encode()) / 3
    assert row.sha256 == raw.sha256, "the sha256 is the uncompressed body's"
    with store.reading() as session:
        assert latest_raw(session, order_id) == raw


def test_a_small_body_is_stored_as_text(store):
    order = pulled()
    raw = RawPayload(json.dumps({"id": order.key.external_id, "status": "1"}))
    order_id = put(store, order, raw).order_id
    [row] = stored(store, order_id)
    assert (row.body, row.body_z, row.sha256) == (raw.body, None, raw.sha256)
    with store.reading() as session:
        assert latest_raw(session, order_id) == raw


def test_a_version_seen_before_is_not_stored_again_when_compressed(store):
    first, second = pulled(code="1"), pulled(code="26", minutes=5)
    back = replace(first, changed_at=first.changed_at + timedelta(minutes=10))
    for order, raw in ((first, large_raw(first)), (second, large_raw(second)), (back, large_raw(first))):
        order_id = put(store, order, raw).order_id
    rows = stored(store, order_id)
    assert [r.sha256 for r in rows] == [large_raw(first).sha256, large_raw(second).sha256]
    assert all(r.body_z is not None for r in rows)


def test_every_row_has_the_same_columns_for_a_bulk_insert():
    small, large = RawPayload("{}"), RawPayload("x" * COMPRESS_FROM)
    assert payload_columns(small, 1, T0).keys() == payload_columns(large, 1, T0).keys()
    assert read_payload(RawPayloadRow(**payload_columns(large, 1, T0))) == large


def test_retention_purges_compressed_payloads(store):
    done = pulled("1", Status.COMPLETED, code="6")
    done_id = put(store, done, large_raw(done)).order_id
    live_id = None
    for minute in range(4):
        live = pulled("2", Status.SHIPPED, code="4", minutes=minute)
        live_id = put(store, live, large_raw(live, note=str(minute))).order_id
    with store.transaction() as session:
        result = purge(session, finished_after=timedelta(days=365), versions=2, now=T0 + timedelta(days=400))
    assert (result.orders, result.payloads) == (1, 1 + 2)
    assert stored(store, done_id) == [] and len(stored(store, live_id)) == 2
    with store.reading() as session:
        assert json.loads(latest_raw(session, live_id).body)["note"] == "3", "the newest version is kept"


# -- the migration, on both databases -------------------------------------------------------------------------------

@pytest.fixture(params=BACKENDS)
def old_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    """A fresh store migrated only up to the revision before compressed payloads."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(store, BEFORE)
        yield store
        store.dispose()
        return
    name = f"connector_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    store = Store(sa.engine.make_url(Store(PG_URL).url).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(store, BEFORE)
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _order_id(store: Store) -> int:
    """An order row written the way revision 0008 knew, with plain SQL (the models are ahead of the schema)."""
    with store.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO orders (marketplace, account, external_id, status, progress, marketplace_status, "
            "marketplace_status_label, payment_status, currency, total, created_at, changed_at, "
            "status_changed_at, buyer_name, buyer_phone, buyer_email, needs_review, review_reason, "
            "payload_sha256, synced_at, version) VALUES ('rozetka', 'rozetka-main', '1', 'new', 0, '1', '', "
            "'unknown', 'UAH', 1, :t, :t, :t, '', '', '', false, '', '', :t, 1)").bindparams(AT), {"t": T0})
        return conn.execute(sa.text("SELECT id FROM orders")).scalar_one()


def test_a_row_written_before_compression_is_read_after_the_upgrade(old_store):
    order_id = _order_id(old_store)
    raw = large_raw(pulled())
    with old_store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO raw_payloads (order_id, received_at, content_type, sha256, body) "
                             "VALUES (:o, :t, :c, :s, :b)").bindparams(AT),
                     {"o": order_id, "t": T0, "c": raw.content_type, "s": raw.sha256, "b": raw.body})
    upgrade(old_store)
    [row] = stored(old_store, order_id)
    assert (row.body, row.body_z) == (raw.body, None), "the upgrade rewrote nothing"
    with old_store.reading() as session:
        assert latest_raw(session, order_id) == raw


def test_a_downgrade_puts_compressed_bodies_back_as_text(old_store):
    order_id = _order_id(old_store)
    upgrade(old_store)
    raw = large_raw(pulled())
    with old_store.transaction() as session:
        session.add(RawPayloadRow(**payload_columns(raw, order_id, T0)))
    assert zlib.decompress(stored(old_store, order_id)[0].body_z).decode() == raw.body
    command.downgrade(alembic_config(old_store), BEFORE)
    assert "body_z" not in {c["name"] for c in sa.inspect(old_store.engine).get_columns("raw_payloads")}
    with old_store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT body FROM raw_payloads")).scalar_one() == raw.body
