"""The store on SQLite and PostgreSQL: identity, idempotent upserts, history, raw payloads, the outbox."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from connector.domain import Buyer, OrderLine, Outcome, Status, build_command
from connector.errors import CommandInvalid, PayloadError
from connector.store.commands import enqueue
from connector.store.orders import ConcurrentUpdate, Upsert, upsert_pulled
from connector.store.queries import find_order, list_orders, order_detail
from connector.store.tables import CommandRow, OrderLineRow, OrderRow, RawPayloadRow, StatusHistoryRow
from tests.conftest import empty
from tests.factories import T0, pulled, raw_of


def count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def put(store, order, raw=None):
    with store.transaction() as session:
        return upsert_pulled(session, order, raw or raw_of(order), now=order.changed_at)


def test_the_database_refuses_a_duplicate_order(store):
    first = put(store, pulled())
    with store.transaction() as session:
        row = session.get(OrderRow, first.order_id)
        clone = OrderRow(**row.model_dump(exclude={"id"}))
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as session:
        session.add(clone)
        session.flush()


def test_a_new_order_is_created_with_its_first_history_event_and_raw_payload(store):
    result = put(store, pulled(ttn="20450000000000"))
    assert result.outcome is Upsert.CREATED and result.event.outcome is Outcome.CREATED
    with store.transaction() as session:
        detail = order_detail(session, "rozetka-main:248888186")
        assert count(session, RawPayloadRow) == 1
    assert detail.summary.order.status == "new" and detail.summary.order.total == Decimal("640.00")
    assert [h.to_status for h in detail.history] == ["new"] and detail.history[0].from_status is None
    assert [s.ttn for s in detail.shipments] == ["20450000000000"]
    assert [(l.sku, l.quantity) for l in detail.lines] == [("12106", 1)]


def test_a_repeated_pull_of_the_same_data_writes_nothing(store):
    put(store, pulled())
    with store.transaction() as session:
        before = session.exec(select(OrderRow)).one()
    again = put(store, pulled())
    assert again.outcome is Upsert.UNCHANGED
    with store.transaction() as session:
        after = session.exec(select(OrderRow)).one()
        assert count(session, StatusHistoryRow) == 1 and count(session, RawPayloadRow) == 1
    assert (after.version, after.synced_at) == (before.version, before.synced_at)


def test_a_status_change_updates_the_order_and_appends_history(store):
    put(store, pulled())
    result = put(store, pulled(status=Status.ACCEPTED, code="26", minutes=5))
    assert result.outcome is Upsert.UPDATED and result.event.outcome is Outcome.APPLIED
    with store.transaction() as session:
        row = find_order(session, "rozetka-main:248888186")
        history = session.exec(select(StatusHistoryRow).order_by(StatusHistoryRow.id)).all()
        assert count(session, RawPayloadRow) == 2
    assert (row.status, row.marketplace_status, row.version) == ("accepted", "26", 2)
    assert [(h.from_status, h.to_status, h.marketplace_status) for h in history] == [
        (None, "new", "1"), ("new", "accepted", "26")]


def test_an_old_page_never_moves_the_order_back(store):
    put(store, pulled(status=Status.SHIPPED, code="3", minutes=10, ttn="20450000000000"))
    result = put(store, pulled(status=Status.NEW, code="1", minutes=0, total="1.00"))
    assert result.event.outcome is Outcome.IGNORED_STALE
    with store.transaction() as session:
        row = find_order(session, "rozetka-main:248888186")
        assert count(session, StatusHistoryRow) == 2  # the stale event is recorded
        assert count(session, RawPayloadRow) == 2  # and its payload kept
    assert row.status == "shipped" and row.total == Decimal("640.00")  # nothing of the old page was applied


def test_a_fresh_regression_is_kept_in_history_and_flagged_for_review(store):
    put(store, pulled(status=Status.SHIPPED, code="3"))
    put(store, pulled(status=Status.PROCESSING, code="2", minutes=5))
    with store.transaction() as session:
        row = find_order(session, "rozetka-main:248888186")
        last = session.exec(select(StatusHistoryRow).order_by(StatusHistoryRow.id.desc())).first()
    assert row.status == "shipped" and row.needs_review
    assert last.outcome == "ignored_regression" and last.to_status == "processing"


def test_lines_are_replaced_when_the_marketplace_edits_them(store):
    from connector.domain import OrderLine
    put(store, pulled())
    lines = [OrderLine("A", "1", "a", 2, Decimal("10.00")), OrderLine("B", "2", "b", 1, Decimal("5.50"))]
    put(store, pulled(minutes=1, total="25.50", lines=lines))
    with store.transaction() as session:
        got = session.exec(select(OrderLineRow).order_by(OrderLineRow.position)).all()
    assert [(l.sku, l.quantity, l.unit_price) for l in got] == [("A", 2, Decimal("10.00")), ("B", 1, Decimal("5.50"))]


def test_a_write_based_on_an_outdated_read_is_refused(store):
    put(store, pulled())
    with store.transaction() as session:
        row = session.exec(select(OrderRow)).one()  # our read: version 1
        session.execute(sa.update(OrderRow).where(OrderRow.id == row.id).values(version=row.version + 1),
                        execution_options={"synchronize_session": False})  # someone else's write
        with pytest.raises(ConcurrentUpdate):
            upsert_pulled(session, pulled(status=Status.ACCEPTED, code="26", minutes=1), raw_of(pulled(minutes=1)))


def test_a_concurrent_writer_on_postgresql_is_detected_not_overwritten(pg_store):
    empty(pg_store)
    put(pg_store, pulled())
    with pg_store.transaction() as session:
        row = session.exec(select(OrderRow)).one()
        with pg_store.transaction() as other:  # another daemon commits between our read and our write
            upsert_pulled(other, pulled(status=Status.ACCEPTED, code="26", minutes=1), raw_of(pulled(minutes=1)))
        with pytest.raises(ConcurrentUpdate):
            upsert_pulled(session, pulled(status=Status.PROCESSING, code="2", minutes=2), raw_of(pulled(minutes=2)))
    with pg_store.transaction() as session:
        assert session.get(OrderRow, row.id).status == "accepted"


def test_timestamps_come_back_in_utc(store):
    put(store, pulled())
    with store.transaction() as session:
        row = session.exec(select(OrderRow)).one()
    assert row.created_at == T0 and row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
    assert row.changed_at.tzinfo == UTC


def test_list_orders_reports_the_latest_shipment(store):
    put(store, pulled("1"))
    put(store, pulled("2", ttn="20450000000000", minutes=1))
    with store.transaction() as session:
        rows = list_orders(session)
    assert [(r.order.external_id, r.shipment.ttn if r.shipment else None) for r in rows] == [
        ("2", "20450000000000"), ("1", None)]


def test_a_command_is_queued_once_per_idempotency_key(store):
    put(store, pulled())
    ship = build_command("ship", {"ttn": "20450000000000"})
    with store.transaction() as session:
        order = find_order(session, "rozetka-main:248888186")
        first = enqueue(session, order, ship)
        second = enqueue(session, order, build_command("ship", {"ttn": "2045 0000 0000 00"}))
        assert first.created and not second.created and second.row.id == first.row.id
        assert count(session, CommandRow) == 1
        assert first.row.state == "pending" and first.row.kind == "ship"


def test_an_impossible_command_never_reaches_the_outbox(store):
    put(store, pulled(status=Status.SHIPPED, code="3"))
    with store.transaction() as session:
        order = find_order(session, "rozetka-main:248888186")
        with pytest.raises(CommandInvalid):
            enqueue(session, order, build_command("cancel", {"reason": "out_of_stock"}))
        assert count(session, CommandRow) == 0


def test_a_failed_unit_of_work_leaves_nothing_behind(store):
    with pytest.raises(RuntimeError), store.transaction() as session:
        upsert_pulled(session, pulled(), raw_of(pulled()))
        raise RuntimeError("killed mid-page")
    with store.transaction() as session:
        assert count(session, OrderRow) == count(session, StatusHistoryRow) == count(session, RawPayloadRow) == 0


statuses = st.lists(st.sampled_from(list(Status)), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=statuses)
def test_every_pulled_status_change_lands_in_history_and_the_status_never_regresses(store, sequence):
    from connector.domain.lifecycle import MAIN_PATH, rank
    empty(store)
    changes, progress = 0, -1
    previous = None
    for minute, status in enumerate(sequence):
        result = put(store, pulled(status=status, code=f"c-{status}", minutes=minute))
        changes += result.event is not None
        with store.transaction() as session:
            row = session.exec(select(OrderRow)).one()
        if row.status in MAIN_PATH:
            assert rank(Status(row.status)) >= progress
        progress = max(progress, row.progress)
        previous = status
    with store.transaction() as session:
        assert count(session, StatusHistoryRow) == changes
    assert previous is not None


def test_an_overlong_marketplace_value_is_cut_to_its_column_not_a_failed_page(store):
    from connector.domain import Buyer
    order = pulled(buyer=Buyer("B" * 400, "380000000000", "b@example.com"))
    put(store, order)
    with store.transaction() as session:
        row = session.exec(select(OrderRow)).one()
    assert len(row.buyer_name) == 255 and row.buyer_name.endswith("…")


def test_a_read_that_does_not_show_the_buyer_keeps_what_was_known(store):
    from connector.domain import Buyer
    put(store, pulled())
    put(store, pulled(status=Status.ACCEPTED, code="26", minutes=1, buyer=Buyer("", "", "")))
    with store.transaction() as session:
        row = session.exec(select(OrderRow)).one()
    assert (row.status, row.buyer_phone, row.buyer_email) == ("accepted", "380000000000", "buyer@example.com")


def test_a_database_error_is_described_without_its_parameters():
    from connector.errors import describe

    class Orig(Exception):
        pass

    error = sa.exc.DataError("INSERT ... %(buyer_phone)s", {"buyer_phone": "380671234567"},
                             Orig("value too long for type character varying(255)\nDETAIL: ..."))
    assert describe(error) == "Orig: value too long for type character varying(255)"


@pytest.mark.parametrize("field,value", [("external_id", "7" * 65), ("ttn", "2" * 65)])
def test_an_identity_longer_than_its_column_is_refused_not_cut(store, field, value):
    """A cut identity is stored one way and looked up another: every later pull would then fail on it."""
    order = pulled(value) if field == "external_id" else pulled(ttn=value)
    with pytest.raises(PayloadError, match=field):
        put(store, order)
    with store.reading() as session:
        assert count(session, OrderRow) == 0


def test_values_beyond_their_column_are_refused_the_same_way_on_both_databases(store):
    with pytest.raises(PayloadError, match="total"):
        put(store, pulled(total="99999999999999999999.99"))
    with pytest.raises(PayloadError, match="quantity"):
        put(store, pulled(lines=[OrderLine("1", "1", "x", 10**12, Decimal("1"))]))


def test_a_nul_byte_in_marketplace_text_is_dropped_where_postgresql_would_refuse_it(store):
    result = put(store, pulled(buyer=Buyer("Ivan\x00 Petrenko", "", ""), lines=[
        OrderLine("1", "1", "Book\x00", 1, Decimal("640.00"))]))
    with store.reading() as session:
        assert session.get(OrderRow, result.order_id).buyer_name == "Ivan Petrenko"
        assert session.exec(select(OrderLineRow.name)).one() == "Book"


def _snapshot(store, account: str) -> dict:
    """Everything the store holds about an account's orders, by external id, without row ids."""
    from connector.store.tables import OrderEventRow, ShipmentRow

    def plain(row, *skip):
        return {k: v for k, v in row.model_dump().items() if k not in {"id", "order_id", "account", *skip}}

    with store.reading() as session:
        out = {}
        for order in session.exec(select(OrderRow).where(OrderRow.account == account)).all():
            of = lambda model, *order_by: session.exec(  # noqa: E731
                select(model).where(model.order_id == order.id).order_by(*order_by, model.id)).all()
            out[order.external_id] = {
                "order": plain(order),
                "lines": [plain(r) for r in of(OrderLineRow)],
                "shipments": [plain(r) for r in of(ShipmentRow)],
                "history": [plain(r) for r in of(StatusHistoryRow)],
                "payloads": [plain(r) for r in of(RawPayloadRow)],
                "feed": [(r.kind, r.data) for r in of(OrderEventRow, OrderEventRow.seq)],
            }
        return out


def test_a_page_written_at_once_stores_exactly_what_writing_its_orders_one_by_one_stores(store):
    from dataclasses import replace

    from connector.domain import OrderKey
    from connector.store.pages import upsert_page
    lines = [OrderLine("A-1", "11", "Book", 2, Decimal("10.00")), OrderLine("B-2", "12", "Pen", 1, Decimal("3.50"))]
    page = [pulled(str(n), Status.ACCEPTED if n % 3 else Status.NEW, code="26" if n % 3 else "1",
                   ttn=f"2045000000{n:04d}" if n % 2 else "", lines=lines[: 1 + n % 2]) for n in range(1, 8)]
    with store.transaction() as session:
        together = upsert_page(session, [(o, raw_of(o)) for o in page], now=T0)
    for order in page:
        alone = replace(order, key=OrderKey("rozetka", "rozetka-alone", order.key.external_id))
        with store.transaction() as session:
            upsert_pulled(session, alone, raw_of(alone), now=T0)
    assert [r.outcome for r in together] == [Upsert.CREATED] * 7
    bulk, single = _snapshot(store, "rozetka-main"), _snapshot(store, "rozetka-alone")
    assert len(bulk) == 7 and bulk == single
    assert bulk["1"]["feed"][0][0] == "order.created" and bulk["1"]["feed"][1][0] == "shipment.changed"


def test_a_page_mixing_known_changed_new_and_repeated_orders_gives_each_its_own_outcome(store):
    from connector.store.pages import upsert_page
    known, changed = pulled("1"), pulled("2")
    for order in (known, changed):
        put(store, order)
    moved = pulled("2", Status.ACCEPTED, code="26", minutes=5)
    new, again = pulled("3"), pulled("3", Status.ACCEPTED, code="26", minutes=7)
    with store.transaction() as session:
        results = upsert_page(session, [(o, raw_of(o)) for o in (known, moved, new, again)])
    assert [r.outcome for r in results] == [Upsert.UNCHANGED, Upsert.UPDATED, Upsert.CREATED, Upsert.UPDATED]
    assert results[2].order_id == results[3].order_id
    with store.reading() as session:
        statuses = dict(session.exec(select(OrderRow.external_id, OrderRow.status)).all())
        assert count(session, OrderRow) == 3
    assert statuses == {"1": "new", "2": "accepted", "3": "accepted"}


def test_a_payload_version_another_writer_stored_meanwhile_is_kept_once_and_fails_nothing(store):
    from connector.store.payloads import payload_columns
    first = put(store, pulled("5"))
    moved = pulled("5", Status.ACCEPTED, code="26", minutes=3)
    with store.transaction() as session:  # a push's read-back stored this version a moment ago
        session.add(RawPayloadRow(**payload_columns(raw_of(moved), first.order_id, T0)))
    assert put(store, moved).outcome is Upsert.UPDATED
    with store.reading() as session:
        versions = session.exec(select(RawPayloadRow.sha256).where(RawPayloadRow.order_id == first.order_id)).all()
    assert sorted(versions) == sorted({raw_of(pulled("5")).sha256, raw_of(moved).sha256})


def test_a_cursor_earned_again_unchanged_is_not_written(store):
    from connector.store.cursors import write_cursor
    from connector.store.tables import SyncCursorRow
    with store.transaction() as session:
        write_cursor(session, "rozetka-main", "orders", "2026-11-01T00:00:00+00:00")
    with store.reading() as session:
        written = session.get(SyncCursorRow, ("rozetka-main", "orders")).updated_at
    with store.transaction() as session:
        write_cursor(session, "rozetka-main", "orders", "2026-11-01T00:00:00+00:00")
    with store.reading() as session:
        assert session.get(SyncCursorRow, ("rozetka-main", "orders")).updated_at == written
