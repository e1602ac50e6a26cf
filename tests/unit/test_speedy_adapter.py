"""The Speedy adapter against its sandbox: one request per ≤10 parcels, every fault survived, a wrong login refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.speedy.adapter import build
from adapters.speedy.sandbox import SpeedySandbox
from connector.domain import ShipmentStatus as S
from connector.errors import AuthError
from mappings import load

FAST = HttpPolicy(timeout=0.3, attempts=4, max_total=10, backoff_initial=0.001, backoff_max=0.005)


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 5, 8, tzinfo=UTC)

    def __call__(self):
        self.now += timedelta(minutes=30)
        return self.now


@pytest.fixture
def sandbox():
    with SpeedySandbox(seed=5, clock=Clock()) as s:
        s.add_login("user", "pass")
        yield s


def adapter(sandbox, password="pass"):
    return build(CarrierLogin(base_url=sandbox.base_url, username="user", password=password), load("speedy"),
                 policy=FAST, sleep=lambda _: None)


def test_one_request_per_batch_of_ten_and_every_parcel_reported(sandbox):
    ids = [sandbox.add_parcel(steps=i % 7) for i in range(10)]
    a = adapter(sandbox)
    assert a.batch_size == 10
    reports = a.track([Parcel(i) for i in ids])
    assert len(sandbox.requests) == 1 and sandbox.requests[0]["body"]["parcels"] == [{"id": i} for i in ids]
    assert sandbox.requests[0]["body"]["userName"] == "user"
    assert set(reports) == set(ids) and all(r.status is not S.NOT_FOUND for r in reports.values())
    with pytest.raises(ValueError):
        a.track([Parcel(i) for i in ids] + [Parcel("299999999")])
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize("route, must_see, last", [
    ("office", S.READY_FOR_PICKUP, S.DELIVERED), ("door", S.OUT_FOR_DELIVERY, S.DELIVERED),
    ("failed", S.READY_FOR_PICKUP, S.DELIVERED), ("refused", S.REFUSED, S.RETURNED),
    ("unclaimed", S.RETURNING, S.RETURNED)])
def test_a_parcel_walks_its_route(sandbox, route, must_see, last):
    parcel_id = sandbox.add_parcel(route=route)
    a = adapter(sandbox)
    seen = []
    for _ in range(10):
        seen.append(a.track([Parcel(parcel_id)])[parcel_id].status)
        sandbox.move(parcel_id)
    assert seen[0] is S.CREATED and must_see in seen and seen[-1] is last


def test_an_unknown_id_is_not_found(sandbox):
    known = sandbox.add_parcel(steps=2)
    reports = adapter(sandbox).track([Parcel(known), Parcel("299999999")])
    assert reports[known].status is S.IN_TRANSIT and reports["299999999"].status is S.NOT_FOUND


@pytest.mark.parametrize("kind, options", [("server_error", {}), ("rate_limit", {"retry_after": 0}),
                                           ("slow", {"seconds": 1}), ("reset", {}), ("malformed", {})])
def test_each_fault_is_survived_by_retrying(sandbox, kind, options):
    parcel_id = sandbox.add_parcel(steps=3)
    sandbox.faults.next(kind, times=2, **options)
    assert adapter(sandbox).track([Parcel(parcel_id)])[parcel_id].status is S.IN_TRANSIT
    assert len(sandbox.requests) == 3


def test_a_wrong_login_is_an_auth_error_not_retried(sandbox):
    with pytest.raises(AuthError):
        adapter(sandbox, password="nope").track([Parcel(sandbox.add_parcel())])
    assert len(sandbox.requests) == 1
