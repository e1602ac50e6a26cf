"""The Ukrposhta adapter against its sandbox: one request per batch, faults survived, bad tokens refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.ukrposhta.adapter import build
from adapters.ukrposhta.sandbox import DEFAULT_TOKEN, PREFIX, UkrposhtaSandbox
from connector.domain.lifecycle import ShipmentStatus
from connector.errors import AuthError, TransientError
from mappings import load

FAST = HttpPolicy(timeout=0.3, attempts=4, backoff_initial=0.001, backoff_max=0.005, max_total=10)
CLOCK = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox():
    with UkrposhtaSandbox(seed=4, clock=lambda: CLOCK) as s:
        yield s


def adapter(sandbox, token=DEFAULT_TOKEN):
    return build(CarrierLogin(base_url=sandbox.url + PREFIX + "/", api_key=token), load("ukrposhta"), policy=FAST,
                 sleep=lambda _: None)


def test_120_parcels_take_three_requests_and_every_barcode_gets_a_report(sandbox):
    numbers = [sandbox.add_parcel(code=20800) for _ in range(100)] + [f"05999{i:08d}" for i in range(20)]
    ukr = adapter(sandbox)
    reports = {}
    for start in range(0, len(numbers), ukr.batch_size):
        reports |= ukr.track([Parcel(n) for n in numbers[start:start + ukr.batch_size]])
    assert [len(r["body"]) for r in sandbox.requests] == [50, 50, 20]
    assert {r["path"] for r in sandbox.requests} == {PREFIX + "/statuses/with-not-found"}
    assert set(reports) == set(numbers)
    assert {reports[n].status for n in numbers[:100]} == {ShipmentStatus.IN_TRANSIT}
    assert {reports[n].status for n in numbers[100:]} == {ShipmentStatus.NOT_FOUND}


def test_a_parcel_is_followed_to_its_return(sandbox):
    number = sandbox.add_parcel(code=10601, path="returned")
    ukr = adapter(sandbox)
    statuses = []
    for _ in range(10):
        statuses.append(ukr.track([Parcel(number)])[number].status)
        sandbox.move(number)
    assert statuses[0] is ShipmentStatus.CREATED and statuses[-1] is ShipmentStatus.RETURNED
    assert ShipmentStatus.READY_FOR_PICKUP in statuses and ShipmentStatus.RETURNING in statuses
    final = ukr.track([Parcel(number)])[number]
    assert len(final.events) == 10 and [e.occurred_at for e in final.events] == sorted(
        e.occurred_at for e in final.events)
    assert len(sandbox.requests) == 11  # one per track call


def test_a_malformed_barcode_is_never_sent(sandbox):
    number = sandbox.add_parcel(code=41000, path="branch")
    reports = adapter(sandbox).track([Parcel("12345"), Parcel(number)])
    assert sandbox.requests[0]["body"] == [number]
    assert reports["12345"].status is ShipmentStatus.UNKNOWN
    assert reports[number].status is ShipmentStatus.DELIVERED and reports[number].delivered_at == CLOCK


def test_a_wrong_token_is_an_auth_error_and_is_not_retried(sandbox):
    with pytest.raises(AuthError):
        adapter(sandbox, token="wrong").track([Parcel("0500100031143")])
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize(("kind", "options"), [
    ("server_error", {}), ("rate_limit", {"retry_after": 0}), ("slow", {"seconds": 0.5}), ("reset", {}),
    ("malformed", {}),
])
def test_each_fault_is_survived_by_the_retries(sandbox, kind, options):
    number = sandbox.add_parcel(code=21700, path="branch")
    sandbox.faults.next(kind, **options)
    report = adapter(sandbox).track([Parcel(number)])[number]
    assert report.status is ShipmentStatus.READY_FOR_PICKUP
    assert len(sandbox.requests) == 2


def test_a_lasting_outage_gives_up_within_the_policy(sandbox):
    sandbox.faults.next("server_error", times=10)
    with pytest.raises(TransientError):
        adapter(sandbox).track([Parcel("0500100031143")])
    assert len(sandbox.requests) == FAST.attempts
