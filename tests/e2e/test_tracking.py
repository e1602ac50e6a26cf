"""The tracking job against the carrier sandboxes, through the real store: parcels move, orders follow, the carriers
are asked as little as their batch limits allow, and a carrier that cannot be asked never fails a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import select

from adapters.base import CarrierLogin, HttpPolicy
from adapters.chopni.adapter import ChopniAdapter
from adapters.chopni.client import ChopniClient
from adapters.chopni.sandbox import ChopniSandbox
from adapters.econt.adapter import build as build_econt
from adapters.econt.sandbox import EcontSandbox
from adapters.novaposhta.adapter import build as build_np
from adapters.novaposhta.sandbox import DEFAULT_KEY, NovaPoshtaSandbox
from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import RozetkaSandbox
from connector.domain import CommandKind, Shipment, Status
from connector.domain.tracking import TrackingRules
from connector.errors import CommandInvalid
from connector.store.events import head, since
from connector.store.orders import upsert_pulled
from connector.store.tables import CommandRow, OrderRow, ShipmentEventRow, ShipmentRow, StatusHistoryRow
from connector.sync.intake import submit
from connector.sync.pull import pull_account
from connector.sync.push import push_due
from connector.sync.track import track_parcels
from mappings import load
from tests.factories import pulled, raw_of

POLICY = HttpPolicy(timeout=5, attempts=4, max_total=20, backoff_initial=0.01, backoff_max=0.05)
EVERY = timedelta(minutes=30)
ROZETKA = TrackingRules()
CHOPNI = TrackingRules(push_on_delivered=CommandKind.COMPLETE)


def np_adapter(sandbox: NovaPoshtaSandbox, key: str = DEFAULT_KEY):
    return build_np(CarrierLogin(sandbox.url, api_key=key), load("novaposhta"), policy=POLICY)


def later(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def track(store, carriers, rules=ROZETKA, at: datetime | None = None):
    return track_parcels(store, carriers, lambda _account: rules, every=EVERY,
                         now=(lambda: at) if at else (lambda: datetime.now(UTC)))


def shipment(store, ttn: str) -> ShipmentRow:
    with store.reading() as session:
        return session.exec(select(ShipmentRow).where(ShipmentRow.ttn == ttn)).one()


def order_of(store, ttn: str) -> OrderRow:
    with store.reading() as session:
        return session.get(OrderRow, shipment(store, ttn).order_id)


def test_a_rozetka_parcel_moves_its_order_to_delivered_and_nothing_is_pushed_to_rozetka(store):
    with RozetkaSandbox(seed=5, orders=0) as rozetka, NovaPoshtaSandbox(seed=5) as np:
        rozetka.add_seller("shop@example.com", "password")
        ttn = np.add_parcel(code=5)
        order_id = rozetka.add_order(status=4)
        rozetka.set_status(order_id, 4, ttn=ttn)
        client = RozetkaClient(rozetka.url, username="shop@example.com", password="password", policy=POLICY)
        marketplace = RozetkaAdapter("rozetka-main", client, load("rozetka"), first_pull=timedelta(days=365))
        pull_account(store, marketplace)
        carrier = np_adapter(np)

        first = track(store, {"novaposhta": carrier})
        assert first.requests == {"novaposhta": 1} and shipment(store, ttn).status == "in_transit"
        np.advance(ttn, 9)
        assert track(store, {"novaposhta": carrier}).requests == {}, "not due again yet: no request"
        done = track(store, {"novaposhta": carrier}, at=later(1))
        parcel, order = shipment(store, ttn), order_of(store, ttn)
        assert (parcel.status, parcel.carrier_status_code, order.status) == ("delivered", "9", "delivered")
        assert done.moved and done.commands == []
        assert order.return_deadline == parcel.delivered_at + timedelta(days=14)
        with store.reading() as session:
            events = session.exec(select(ShipmentEventRow).where(ShipmentEventRow.shipment_id == parcel.id)).all()
            auto = session.exec(select(StatusHistoryRow).where(StatusHistoryRow.order_id == order.id,
                                                               StatusHistoryRow.actor == "automation")).all()
            assert session.exec(select(CommandRow)).all() == []
        assert [e.code for e in events] == ["5", "9"]
        assert [a.to_status for a in auto] == ["delivered"] and "rule 'delivered'" in auto[0].comment
        assert not [r for r in rozetka.requests if r[0] == "PUT"], "Rozetka follows its TTNs itself"

        rozetka.set_status(order_id, 4)  # a Rozetka change that still says 4: no news, no flag, no regression
        rozetka.set_status(order_id, 6)
        pull_account(store, marketplace)
        assert order_of(store, ttn).status == "completed" and not order_of(store, ttn).needs_review


def test_a_chopni_parcel_delivered_at_econt_completes_the_order_once(store):
    with ChopniSandbox(seed=3) as chopni, EcontSandbox(seed=3) as econt:
        chopni.add_seller("shop@example.com", "password")
        econt.add_login("shop", "secret")
        number = econt.add_parcel(route="office", steps=3)
        order_id = chopni.add_order(vendor_status="PROCESSING")
        chopni.set_vendor_status(order_id, "SHIPPED", f"Tracking: Econt {number}")
        client = ChopniClient(chopni.url, email="shop@example.com", password="password", policy=POLICY,
                              requests_per_second=0)
        marketplace = ChopniAdapter("chopni-main", client, load("chopni"), settle=0)
        pull_account(store, marketplace)
        carrier = build_econt(CarrierLogin(econt.base_url, username="shop", password="secret"), load("econt"),
                              policy=POLICY)
        track(store, {"econt": carrier}, CHOPNI)
        assert shipment(store, number).carrier == "econt"
        econt.move(number)  # arrived at the office
        track(store, {"econt": carrier}, CHOPNI, at=later(1))
        assert order_of(store, number).status == "ready_for_pickup"
        econt.move(number)  # delivered
        done = track(store, {"econt": carrier}, CHOPNI, at=later(2))
        assert done.commands == [f"chopni-main:{order_id}: complete"]
        assert order_of(store, number).status == "delivered"
        mails = len(chopni.emails_sent)
        push_due(store, {"chopni-main": marketplace}, "test")
        assert chopni.order(order_id)["vendor_status"] == "COMPLETE"
        assert [m["status"] for m in chopni.emails_sent[mails:]] == ["COMPLETE"]
        # the carrier says it again, and again: nothing new is queued or sent
        track(store, {"econt": carrier}, CHOPNI, at=later(3))
        push_due(store, {"chopni-main": marketplace}, "test")
        assert len(chopni.emails_sent) == mails + 1
        pull_account(store, marketplace)
        order = order_of(store, number)
        assert order.status == "completed" and order.return_deadline is not None


def _orders_with_parcels(store, np: NovaPoshtaSandbox, count: int) -> list[str]:
    numbers = [np.add_parcel(code=5) for _ in range(count)]
    with store.transaction() as session:
        for i, ttn in enumerate(numbers):
            order = pulled(str(1000 + i), ttn=ttn)
            upsert_pulled(session, order, raw_of(order))
    return numbers


def test_n_active_parcels_cost_ceil_n_over_100_requests_and_an_idle_cycle_costs_none(store):
    with NovaPoshtaSandbox(seed=9) as np:
        _orders_with_parcels(store, np, 250)
        carrier = np_adapter(np)
        summary = track(store, {"novaposhta": carrier})
        assert len(np.requests) == 3 and summary.asked == {"novaposhta": 250}
        assert [len(r["body"]["methodProperties"]["Documents"]) for r in np.requests] == [100, 100, 50]
        track(store, {"novaposhta": carrier})
        assert len(np.requests) == 3, "nothing is due: no request at all"
        track(store, {"novaposhta": carrier}, at=later(1))
        assert len(np.requests) == 6


@contextmanager
def statements(store) -> Iterator[list[int]]:
    """Counts the SQL statements the store sends while the block runs (an executemany is one)."""
    count = [0]

    def counted(*_args) -> None:
        count[0] += 1

    sa.event.listen(store.engine, "before_cursor_execute", counted)
    try:
        yield count
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", counted)


def test_a_batch_costs_the_same_statements_whatever_its_size(store):
    """A batch is read and written in a few statements, not a few per parcel (it was about 7 per parcel with news,
    4 without): 50 and 100 parcels, one request each, cost the same."""
    with NovaPoshtaSandbox(seed=11) as np:
        sizes = {"fifty": 50, "hundred": 100}  # one request each
        for account, size in sizes.items():
            with store.transaction() as session:
                for i in range(size):
                    order = pulled(f"{account}-{i}", Status.SHIPPED, code="4", account=account,
                                   ttn=np.add_parcel(code=5))
                    upsert_pulled(session, order, raw_of(order))
        carrier = {"novaposhta": np_adapter(np)}
        cost = {}
        for account, size in sizes.items():
            for cycle, at in (("news", datetime.now(UTC)), ("nothing new", later(1))):
                with statements(store) as count:
                    summary = track_parcels(store, carrier, lambda _account: ROZETKA, every=EVERY,
                                            accounts=[account], now=lambda at=at: at)
                assert summary.asked == {"novaposhta": size} and summary.moved == []
                assert summary.changed == (size if cycle == "news" else 0)
                cost[account, cycle] = count[0]
    for cycle in ("news", "nothing new"):
        assert abs(cost["hundred", cycle] - cost["fifty", cycle]) <= 2, cost
        assert cost["hundred", cycle] <= 20, cost


def test_two_parcels_of_one_order_in_one_batch_move_it_in_turn_and_the_feed_keeps_the_order(store):
    with NovaPoshtaSandbox(seed=12) as np:
        [single] = _orders_with_parcels(store, np, 1)
        moving, delivered = np.add_parcel(code=5), np.add_parcel(code=9)
        order = pulled("2000")
        order.shipments = [Shipment("novaposhta", moving), Shipment("novaposhta", delivered)]
        with store.transaction() as session:
            upsert_pulled(session, order, raw_of(order))
        with store.reading() as session:
            pulled_up_to = head(session)
        done = track(store, {"novaposhta": np_adapter(np)})
    both = order_of(store, moving)
    assert len(np.requests) == 1 and done.changed == 3 and both.status == "delivered"
    assert both.return_deadline == shipment(store, delivered).delivered_at + timedelta(days=14)
    assert [line.split(": ", 1)[1] for line in done.moved] == [
        "carrier has the parcel → shipped", "carrier has the parcel → shipped", "delivered → delivered"]
    with store.reading() as session:
        tracked = [(e.row.order_id, e.row.kind, e.as_json()["data"].get("to") or e.as_json()["data"]["ttn"])
                   for e in since(session, pulled_up_to)]
    first = order_of(store, single).id
    assert tracked == [(first, "shipment.changed", single), (first, "order.status_changed", "shipped"),
                       (both.id, "shipment.changed", moving), (both.id, "order.status_changed", "shipped"),
                       (both.id, "shipment.changed", delivered), (both.id, "order.status_changed", "delivered")]


def test_parcels_that_stand_still_for_days_are_asked_less_often(store):
    with NovaPoshtaSandbox(seed=2) as np:
        [ttn] = _orders_with_parcels(store, np, 1)
        carrier = np_adapter(np)
        track(store, {"novaposhta": carrier}, at=later(24 * 4))  # its last scan is four days before "now"
        assert shipment(store, ttn).next_check_at - later(24 * 4) > timedelta(hours=5)


def test_a_carrier_that_is_not_configured_or_refuses_the_login_tracks_nothing_and_says_why(store):
    with NovaPoshtaSandbox(seed=4) as np:
        [ttn] = _orders_with_parcels(store, np, 1)
        absent = track(store, {"novaposhta": "novaposhta is not configured: add carriers.novaposhta"})
        assert absent.ok and "not configured" in shipment(store, ttn).not_tracked and np.requests == []
        refused = track(store, {"novaposhta": np_adapter(np, key="f" * 32)}, at=later(1))
        assert refused.ok and "refused the login" in shipment(store, ttn).not_tracked
        fixed = track(store, {"novaposhta": np_adapter(np)}, at=later(2))
        assert fixed.asked == {"novaposhta": 1} and shipment(store, ttn).not_tracked == ""


def test_a_number_no_carrier_uses_is_not_tracked_with_the_reason(store):
    order = pulled("77")
    order.shipments = [Shipment("unknown", "XYZ-1")]
    with store.transaction() as session:
        upsert_pulled(session, order, raw_of(order))
    summary = track(store, {})
    assert summary.ok and "no carrier we track uses numbers like XYZ-1" in shipment(store, "XYZ-1").not_tracked


def test_a_failing_carrier_leaves_its_parcels_due_and_the_next_run_asks_again(store):
    with NovaPoshtaSandbox(seed=6) as np:
        [ttn] = _orders_with_parcels(store, np, 1)
        np.faults.next("server_error", times=20)
        failed = track(store, {"novaposhta": np_adapter(np)})
        assert not failed.ok and "novaposhta" in failed.errors and shipment(store, ttn).status == "created"
        np.faults.clear()
        again = track(store, {"novaposhta": np_adapter(np)})
        assert again.ok and shipment(store, ttn).status == "in_transit"


def test_free_storage_ending_soon_raises_one_alert(store):
    with NovaPoshtaSandbox(seed=8) as np:
        [ttn] = _orders_with_parcels(store, np, 1)
        soon = datetime.now(UTC) + timedelta(hours=20)
        np.advance(ttn, 7, DatePayedKeeping=soon.astimezone(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%d %H:%M:%S"))
        first = track(store, {"novaposhta": np_adapter(np)})
        second = track(store, {"novaposhta": np_adapter(np)}, at=later(1))
        assert len(first.alerts) == 1 and "free storage ends" in first.alerts[0] and second.alerts == []
        assert order_of(store, ttn).status == "ready_for_pickup"


@pytest.mark.parametrize("ttn,carrier,fits", [("20450000000000", None, True), ("12345", None, False),
                                               ("20450000000000", "ukrposhta", False)])
def test_ship_checks_the_number_against_its_carrier_before_queueing(store, ttn, carrier, fits):
    order = pulled("501", status=Status.ACCEPTED, code="26")
    with store.transaction() as session:
        upsert_pulled(session, order, raw_of(order))
    payload = {"ttn": ttn} | ({"carrier": carrier} if carrier else {})
    if fits:
        with store.transaction() as session:
            _, queued = submit(session, "rozetka-main:501", "ship", payload, requested_by="test")
        assert '"carrier": "novaposhta"' in queued.row.payload
    else:
        with pytest.raises(CommandInvalid) as refused, store.transaction() as session:
            submit(session, "rozetka-main:501", "ship", payload, requested_by="test")
        assert refused.value.exit_code == 2
        with store.reading() as session:
            assert session.exec(select(CommandRow)).all() == []
