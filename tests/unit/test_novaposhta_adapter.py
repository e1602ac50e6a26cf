"""The Nova Poshta adapter against its sandbox: one request per batch, every fault survived within the HttpPolicy,
wrong keys refused, parcels followed as they move."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import CarrierLogin, HttpPolicy, Parcel
from adapters.novaposhta.adapter import build
from adapters.novaposhta.sandbox import DEFAULT_KEY, NovaPoshtaSandbox
from connector.domain.lifecycle import ShipmentStatus
from connector.errors import AuthError, TransientError
from mappings import load

FAST = HttpPolicy(timeout=0.3, attempts=4, backoff_initial=0.001, backoff_max=0.005, max_total=10)
CLOCK = datetime(2022, 3, 8, 12, 0, tzinfo=UTC)


@pytest.fixture
def sandbox():
    with NovaPoshtaSandbox(seed=5, clock=lambda: CLOCK) as s:
        yield s


def adapter(sandbox, key=DEFAULT_KEY, policy=FAST):
    return build(CarrierLogin(base_url=sandbox.url, api_key=key), load("novaposhta"), policy=policy,
                 sleep=lambda _: None)


def documents(request) -> list[dict]:
    return request["body"]["methodProperties"]["Documents"]


def test_250_parcels_take_three_requests_and_every_number_gets_a_report(sandbox):
    numbers = [sandbox.add_parcel(code=5) for _ in range(200)] + [f"2040000{i:07d}" for i in range(50)]
    np = adapter(sandbox)
    reports = {}
    for start in range(0, len(numbers), np.batch_size):
        reports |= np.track([Parcel(n) for n in numbers[start:start + np.batch_size]])
    assert np.batch_size == 100
    assert [len(documents(r)) for r in sandbox.requests] == [100, 100, 50]
    assert set(reports) == set(numbers)
    assert {r.status for n, r in reports.items() if n in numbers[:200]} == {ShipmentStatus.IN_TRANSIT}
    assert {r.status for n, r in reports.items() if n in numbers[200:]} == {ShipmentStatus.NOT_FOUND}


def test_one_request_for_a_full_batch_and_a_refusal_above_it(sandbox):
    np = adapter(sandbox)
    np.track([Parcel(f"2040000{i:07d}") for i in range(100)])
    assert len(sandbox.requests) == 1
    with pytest.raises(ValueError):
        np.track([Parcel(f"2040000{i:07d}") for i in range(101)])
    assert len(sandbox.requests) == 1


def test_the_key_is_always_sent_and_the_phone_when_the_parcel_has_one(sandbox):
    number = sandbox.add_parcel(phone="380501112233", code=9, path="branch")
    other = sandbox.add_parcel(code=7, path="branch")
    reports = adapter(sandbox).track([Parcel(number, "050 111 22 33"), Parcel(other)])
    [request] = sandbox.requests
    assert request["body"]["apiKey"] == DEFAULT_KEY
    assert documents(request) == [{"DocumentNumber": number, "Phone": "380501112233"},
                                  {"DocumentNumber": other, "Phone": ""}]
    assert json.loads(reports[number].raw)["PhoneRecipient"] == "380501112233"  # key + phone: full data
    assert json.loads(reports[other].raw)["RecipientFullName"] == ""
    assert reports[number].status is ShipmentStatus.DELIVERED and reports[number].delivered_at is not None


def test_a_parcel_is_followed_along_its_path(sandbox):
    number = sandbox.add_parcel(code=1, path="refused")
    np = adapter(sandbox)
    seen = []
    for _ in range(7):
        report = np.track([Parcel(number)])[number]
        seen.append((report.code, report.status))
        sandbox.move(number)
    assert seen == [("1", ShipmentStatus.CREATED), ("4", ShipmentStatus.IN_TRANSIT), ("5", ShipmentStatus.IN_TRANSIT),
                    ("6", ShipmentStatus.IN_TRANSIT), ("7", ShipmentStatus.READY_FOR_PICKUP),
                    ("103", ShipmentStatus.REFUSED), ("102", ShipmentStatus.RETURNING)]
    returning = np.track([Parcel(number)])[number]
    assert returning.new_ttn and returning.new_ttn in sandbox.numbers()  # the return waybill, tracked next


def test_waiting_at_the_branch_reports_when_free_storage_ends(sandbox):
    number = sandbox.add_parcel(code=7, path="branch")
    report = adapter(sandbox).track([Parcel(number)])[number]
    assert report.status is ShipmentStatus.READY_FOR_PICKUP
    assert report.storage_until == CLOCK + timedelta(days=8)  # arrived now; paid keeping from the 8th day


def test_a_malformed_number_is_never_sent(sandbox):
    number = sandbox.add_parcel(code=9)
    reports = adapter(sandbox).track([Parcel("445"), Parcel(number)])
    assert [d["DocumentNumber"] for d in documents(sandbox.requests[0])] == [number]
    assert reports["445"].status is ShipmentStatus.UNKNOWN and "not a Nova Poshta" in reports["445"].text
    assert reports[number].status is ShipmentStatus.DELIVERED
    assert adapter(sandbox).track([Parcel("NP12345678901234NPG")])["NP12345678901234NPG"].status \
        is ShipmentStatus.UNKNOWN
    assert len(sandbox.requests) == 1


def test_a_wrong_key_is_an_auth_error_and_is_not_retried(sandbox):
    with pytest.raises(AuthError) as caught:
        adapter(sandbox, key="f" * 32).track([Parcel("20400048799000")])
    assert caught.value.code == "20000200068" and len(sandbox.requests) == 1


@pytest.mark.parametrize(("kind", "options"), [
    ("server_error", {}), ("rate_limit", {}), ("http_rate_limit", {"retry_after": 0}), ("service_error", {}),
    ("slow", {"seconds": 0.5}), ("reset", {}), ("malformed", {}),
])
def test_each_fault_is_survived_by_the_retries(sandbox, kind, options):
    number = sandbox.add_parcel(code=7)
    sandbox.faults.next(kind, **options)
    report = adapter(sandbox).track([Parcel(number)])[number]
    assert report.status is ShipmentStatus.READY_FOR_PICKUP
    assert len(sandbox.requests) == 2  # the failed attempt and its retry


def test_the_daily_quota_is_not_retried_and_says_when_to_come_back(sandbox):
    sandbox.faults.next("quota")
    with pytest.raises(TransientError) as caught:
        adapter(sandbox).track([Parcel("20400048799000")])
    assert len(sandbox.requests) == 1
    assert caught.value.code == "20000501331" and 0 < caught.value.retry_after <= 24 * 3600


def test_a_rate_limit_that_lasts_gives_up_within_the_policy(sandbox):
    sandbox.faults.next("rate_limit", times=10)
    with pytest.raises(TransientError) as caught:
        adapter(sandbox).track([Parcel("20400048799000")])
    assert caught.value.code == "20000401501" and len(sandbox.requests) == FAST.attempts
