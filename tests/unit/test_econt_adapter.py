"""The Econt adapter against its sandbox: one request per batch, every fault survived, a wrong login refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.econt.adapter import build
from adapters.econt.sandbox import EcontSandbox
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
    with EcontSandbox(seed=5, clock=Clock()) as s:
        s.add_login("user", "pass")
        yield s


def adapter(sandbox, password="pass", policy=FAST):
    return build(CarrierLogin(base_url=sandbox.base_url, username="user", password=password), load("econt"),
                 policy=policy, sleep=lambda _: None)


def test_one_request_per_batch_and_every_number_reported(sandbox):
    numbers = [sandbox.add_parcel(route="office", steps=i % 6) for i in range(30)]
    a = adapter(sandbox)
    assert a.batch_size == 30
    reports = a.track([Parcel(n) for n in numbers] )
    assert len(sandbox.requests) == 1 and sandbox.requests[0]["body"] == {"shipmentNumbers": numbers}
    assert set(reports) == set(numbers)
    with pytest.raises(ValueError):
        a.track([Parcel(n) for n in numbers] + [Parcel("1050000000000")])
    assert len(sandbox.requests) == 1


def test_a_parcel_walks_to_delivered_and_a_refusal_to_returned(sandbox):
    office, refused, door = (sandbox.add_parcel(route=r) for r in ("office", "refused", "door"))
    a = adapter(sandbox)
    seen = {office: [], refused: [], door: []}
    for _ in range(8):
        for number, report in a.track([Parcel(n) for n in seen]).items():
            seen[number].append(report.status)
        for number in seen:
            sandbox.move(number)
    assert seen[office][0] is S.CREATED and S.READY_FOR_PICKUP in seen[office] and seen[office][-1] is S.DELIVERED
    assert S.OUT_FOR_DELIVERY in seen[door] and seen[door][-1] is S.DELIVERED
    assert S.REFUSED in seen[refused] and seen[refused][-1] is S.RETURNED
    final = a.track([Parcel(office)])[office]
    assert final.delivered_at is not None and final.delivered_at.tzinfo is UTC


def test_numbers_are_normalised_and_reports_keyed_as_asked(sandbox):
    number = sandbox.add_parcel(steps=2)
    spaced = f"{number[:3]} {number[3:]}"
    reports = adapter(sandbox).track([Parcel(spaced), Parcel("1059999999999")])
    assert reports[spaced].status is S.IN_TRANSIT and reports[spaced].ttn == spaced
    assert reports["1059999999999"].status is S.NOT_FOUND
    assert sandbox.requests[0]["body"] == {"shipmentNumbers": [number, "1059999999999"]}


@pytest.mark.parametrize("kind, options", [("server_error", {}), ("rate_limit", {"retry_after": 0}),
                                           ("slow", {"seconds": 1}), ("reset", {}), ("malformed", {})])
def test_each_fault_is_survived_by_retrying(sandbox, kind, options):
    number = sandbox.add_parcel(steps=3)
    sandbox.faults.next(kind, times=2, **options)
    report = adapter(sandbox).track([Parcel(number)])[number]
    assert report.status is S.IN_TRANSIT
    assert len(sandbox.requests) == 3  # two faulty attempts, then the answer


def test_a_wrong_login_is_an_auth_error_not_retried(sandbox):
    with pytest.raises(AuthError):
        adapter(sandbox, password="nope").track([Parcel(sandbox.add_parcel())])
    assert len(sandbox.requests) == 1


def test_missing_credentials_are_refused_before_any_request(sandbox):
    with pytest.raises(AuthError):
        build(CarrierLogin(base_url=sandbox.base_url, username="user"), load("econt"))
    assert sandbox.requests == []
