"""The Rozetka adapter against its sandbox, through the real pull job and store: every fault switch on.

After each run the store must equal the sandbox's truth, and no step may have been sent twice.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from adapters.base import HttpPolicy
from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import RozetkaSandbox
from connector.domain import build_command
from connector.store.accounts import states
from connector.store.cursors import read_cursor
from connector.store.tables import OrderRow, StatusHistoryRow
from connector.sync.pull import pull_account
from mappings import load

V = load("rozetka")
TTN = "20450000000000"


@pytest.fixture
def sandbox():
    with RozetkaSandbox(seed=7, orders=45, page_size=20) as s:
        s.add_seller("shop@example.com", "password")
        yield s


def adapter(sandbox: RozetkaSandbox, *, timeout: float = 5.0, settle: float = 0.0) -> RozetkaAdapter:
    policy = HttpPolicy(timeout=timeout, attempts=6, max_total=30, backoff_initial=0.01, backoff_max=0.05)
    client = RozetkaClient(sandbox.url, username="shop@example.com", password="password", policy=policy)
    return RozetkaAdapter("rozetka-main", client, V, first_pull=timedelta(days=365), settle=settle)


def stored(store) -> dict[str, tuple[str, str]]:
    with store.transaction() as session:
        return {o.external_id: (o.marketplace_status, o.status) for o in session.exec(select(OrderRow))}


def truth(sandbox: RozetkaSandbox) -> dict[str, tuple[str, str]]:
    return {str(i): (str(sandbox.order(i)["status"]), V.rule(sandbox.order(i)["status"]).status.value)
            for i in sandbox.order_ids()}


def searches(sandbox: RozetkaSandbox) -> list[str]:
    return [query.get("page", "") for method, path, query, _ in sandbox.requests if path == "/orders/search"]


def test_a_full_pull_stores_every_order_and_a_second_pull_writes_nothing(store, sandbox):
    a = adapter(sandbox)
    first = pull_account(store, a)
    assert (first.created, first.pages) == (45, 3) and first.problems == []
    # Rozetka (Yii2) answers a page past the end with the last page again: the scan stops at pageCount, never
    # asks for page 4, and so cannot loop on it
    assert searches(sandbox) == ["1", "2", "3"]
    assert stored(store) == truth(sandbox)
    with store.transaction() as session:
        history = session.exec(select(func.count()).select_from(StatusHistoryRow)).one()
        assert read_cursor(session, "rozetka-main", "orders") == first.cursor
    second = pull_account(store, a)
    assert second.created == second.updated == 0
    with store.transaction() as session:
        assert session.exec(select(func.count()).select_from(StatusHistoryRow)).one() == history


@pytest.mark.parametrize("kind,options", [
    ("server_error", {}), ("rate_limit", {"retry_after": 0}), ("reset", {}), ("malformed", {}),
    ("expire_token", {}), ("slow", {"seconds": 0.3}),
])
def test_a_pull_survives_each_fault(store, sandbox, kind, options):
    sandbox.faults.next(kind, times=1 if kind == "expire_token" else 2, path="/orders/search", **options)
    summary = pull_account(store, adapter(sandbox, timeout=0.2 if kind == "slow" else 5.0))
    assert stored(store) == truth(sandbox) and summary.problems == []


def test_a_token_that_expires_mid_pagination_is_renewed_and_the_scan_goes_on(sandbox):
    a = adapter(sandbox)
    pages = a.pull(None)
    first = next(pages)
    sandbox.expire_tokens()
    rest = list(pages)
    assert len(first.orders) + sum(len(p.orders) for p in rest) == 45
    assert rest[-1].cursor is not None and a.client.logins == 2


def test_a_pull_with_random_faults_everywhere_converges(store, sandbox):
    for kind in ("server_error", "reset", "malformed"):
        sandbox.faults.rate(kind, 0.1)
    a = adapter(sandbox)
    for _ in range(3):
        try:
            pull_account(store, a)
            break
        except Exception:  # noqa: BLE001  (an unlucky run gives up; the next run resumes from the cursor)
            continue
    sandbox.faults.clear()
    pull_account(store, a)
    assert stored(store) == truth(sandbox)


def test_a_page_that_repeats_stops_the_scan_and_keeps_the_cursor(store, sandbox):
    sandbox.faults.next("repeat_page", times=5, path="/orders/search")
    summary = pull_account(store, adapter(sandbox))
    assert any("repeated" in note for note in summary.notes)
    with store.transaction() as session:
        assert read_cursor(session, "rozetka-main", "orders") is None
    assert len(stored(store)) == 20  # the first page was stored; the rest is read next time


def test_changes_after_a_pull_are_picked_up_by_the_next(store, sandbox):
    a = adapter(sandbox)
    pull_account(store, a)
    new = sandbox.add_order(status=1)  # an order arriving now
    moved = next(i for i in sandbox.order_ids() if sandbox.order(i)["status"] == 3)
    sandbox.set_status(moved, 4)
    summary = pull_account(store, a)
    assert summary.created == 1 and summary.updated >= 1
    assert stored(store) == truth(sandbox) and str(new) in stored(store)


def test_an_unknown_status_is_kept_and_reported(store, sandbox):
    odd = sandbox.add_order(status=1)
    sandbox.set_status(odd, 999)
    summary = pull_account(store, adapter(sandbox))
    assert summary.unmapped == [f"{odd}: 999"]
    with store.transaction() as session:
        row = session.exec(select(OrderRow).where(OrderRow.external_id == str(odd))).one()
    assert row.status == "unknown" and row.needs_review and len(stored(store)) == 46


def test_a_payload_that_does_not_parse_is_kept_and_the_page_goes_on(store, sandbox):
    bad = sandbox.add_order(status=1)
    payload = sandbox.order(bad)
    payload["purchases"][0]["quantity"] = "two"
    sandbox.put_order(payload)
    summary = pull_account(store, adapter(sandbox))
    assert len(summary.unparsed) == 1 and str(bad) in summary.unparsed[0]
    assert summary.created == 45
    with store.transaction() as session:
        row = session.exec(select(OrderRow).where(OrderRow.external_id == str(bad))).one()
    assert row.status == "unknown" and "quantity" in row.review_reason


def puts(sandbox: RozetkaSandbox, order_id: int) -> list[int]:
    return [body["status"] for method, path, _, body in sandbox.requests
            if method == "PUT" and path == f"/orders/{order_id}"]


def test_ship_walks_a_new_order_to_61_with_the_ttn(sandbox):
    order_id = sandbox.add_order(status=1)
    result = adapter(sandbox).push(build_command("ship", {"ttn": TTN}), str(order_id))
    assert puts(sandbox, order_id) == [26, 61] and result.remote_status == "61"
    assert sandbox.order(order_id)["ttn"] == TTN


@pytest.mark.parametrize("kind", ["server_error", "reset", "malformed", "rate_limit", "expire_token"])
def test_a_push_under_faults_sends_each_step_once(sandbox, kind):
    order_id = sandbox.add_order(status=1)
    sandbox.faults.next(kind, times=1 if kind == "expire_token" else 2, path=f"/orders/{order_id}", retry_after=0)
    adapter(sandbox).push(build_command("ship", {"ttn": TTN}), str(order_id))
    order = sandbox.order(order_id)
    # each step landed exactly once: a repeat PUT only ever followed an attempt Rozetka never processed
    assert [h["status_id"] for h in order["order_status_history"]] == [1, 26, 61] and order["ttn"] == TTN
    assert sorted(set(puts(sandbox, order_id))) == [26, 61]


def test_a_step_whose_answer_is_lost_is_not_sent_again(sandbox):
    order_id = sandbox.add_order(status=1)
    # the PUT to 26 is handled, but its answer arrives cut in half: it landed, we could not tell
    sandbox.faults.next("malformed", times=1, path=f"/orders/{order_id}")
    result = adapter(sandbox).push(build_command("accept"), str(order_id))
    assert puts(sandbox, order_id) == [26]  # not re-sent after the re-read showed it landed
    assert sandbox.order(order_id)["status"] == 26 and result.remote_status == "26"


def test_a_slow_step_that_lands_after_our_timeout_is_not_sent_again(sandbox):
    order_id = sandbox.add_order(status=1)
    # our PUT times out at 0.2 s; Rozetka applies it at 0.4 s; we look again after settling for 0.6 s
    sandbox.faults.next("slow", times=1, path=f"/orders/{order_id}", method="PUT", seconds=0.4)
    result = adapter(sandbox, timeout=0.2, settle=0.6).push(build_command("accept"), str(order_id))
    assert puts(sandbox, order_id) == [26] and result.remote_status == "26"


def test_a_buyer_cancellation_while_the_command_waited_is_a_conflict(sandbox):
    from connector.errors import ConflictError
    order_id = sandbox.add_order(status=1)
    sandbox.set_status(order_id, 45)  # the buyer cancelled
    with pytest.raises(ConflictError):
        adapter(sandbox).push(build_command("ship", {"ttn": TTN}), str(order_id))
    assert puts(sandbox, order_id) == []


def test_a_buyer_message_is_sent_once_even_if_the_push_is_retried(sandbox):
    order_id = sandbox.add_order(status=26)
    message = build_command("message_buyer", {"text": "Your parcel leaves today."})
    a = adapter(sandbox)
    first, again = a.push(message, str(order_id)), a.push(message, str(order_id))
    assert first.sent == ["message to the buyer"] and again.sent == [] and len(sandbox.messages_sent) == 1
    # to the buyer: the chat's user_id (the order's user), not chat.user.id, which is someone else
    buyer = sandbox.order(order_id)["user"]["id"]
    assert sandbox.messages_sent[0]["receiver_id"] == buyer


def test_a_comment_alone_fails_once_with_the_reason_and_is_not_resent(sandbox):
    from connector.errors import PermanentError
    order_id = sandbox.add_order(status=26)
    with pytest.raises(PermanentError, match="only with a status change") as caught:
        adapter(sandbox).push(build_command("comment", {"text": "called the buyer"}), str(order_id))
    assert "--comment" in caught.value.hint
    assert puts(sandbox, order_id) == [26]  # one same-status PUT, answered success, stored nothing
    assert "called the buyer" not in [c["comment"] for c in sandbox.order(order_id)["seller_comment"]]


@pytest.mark.parametrize("wrong", [61, 15])
def test_ship_with_a_corrected_ttn_goes_back_through_26(sandbox, wrong):
    order_id = sandbox.add_order(status=26)
    adapter(sandbox).push(build_command("ship", {"ttn": TTN}), str(order_id))
    if wrong == 15:
        sandbox.set_status(order_id, 15)  # Rozetka found the TTN invalid
    new = "20450000000077"
    result = adapter(sandbox).push(build_command("ship", {"ttn": new}), str(order_id))
    order = sandbox.order(order_id)
    assert puts(sandbox, order_id) == [61, 26, 61] and result.remote_status == "61"
    assert (order["status"], order["ttn"]) == (61, new)


def test_a_pull_whose_filter_rozetka_rejects_fails_instead_of_reading_everything(store, sandbox, monkeypatch):
    """With Accept-Validate-Exception Rozetka says a filter is bad; without it the search is unfiltered, and an
    incremental pull would take the whole history for its window."""
    from adapters.rozetka import mapper
    from connector.errors import PermanentError
    monkeypatch.setattr(mapper, "to_kyiv", lambda _: "2024-13-45 25:61:00")
    with pytest.raises(PermanentError) as caught:
        pull_account(store, adapter(sandbox))
    assert caught.value.code == 1002 and "changed_from" in caught.value.message
    assert stored(store) == {}


def test_a_return_after_a_delivery_is_a_return_request_and_before_one_a_failed_delivery(store, sandbox):
    delivered, lost = sandbox.add_order(status=6), sandbox.add_order(status=3)
    a = adapter(sandbox)
    pull_account(store, a)
    for order_id in (delivered, lost):
        sandbox.set_status(order_id, 86)  # "Очікується повернення товару"
    pull_account(store, a)
    assert stored(store)[str(delivered)] == ("86", "return_requested")  # the buyer sends the goods back
    assert stored(store)[str(lost)] == ("86", "delivery_failed")  # the parcel never reached the buyer
    sandbox.set_status(delivered, 90)
    pull_account(store, a)
    assert stored(store)[str(delivered)] == ("90", "return_requested")


def test_a_window_too_big_for_the_page_cap_is_read_in_shorter_windows(store, sandbox, monkeypatch):
    from adapters.rozetka import adapter as rozetka_adapter
    monkeypatch.setattr(rozetka_adapter, "MAX_PAGES", 2)
    summary = pull_account(store, adapter(sandbox))
    assert stored(store) == truth(sandbox) and summary.created == 45 and summary.problems == []
    with store.transaction() as session:
        assert read_cursor(session, "rozetka-main", "orders") == summary.cursor is not None
    # no window past the first attempt was read beyond the cap
    assert max(int(p) for p in searches(sandbox)) <= 2


def test_a_pull_another_daemon_just_made_is_not_made_again(store, sandbox):
    """Several daemons over one store share the accounts' pulls: one that finds a good pull ended within
    ``fresh_for`` skips it without a request; after that, or without ``fresh_for``, it pulls."""
    pull_account(store, adapter(sandbox), owner="daemon-a")
    before = len(searches(sandbox))
    skipped = pull_account(store, adapter(sandbox), owner="daemon-b", fresh_for=timedelta(minutes=1))
    assert skipped.skipped.startswith("pulled ") and len(searches(sandbox)) == before
    with store.reading() as session:
        assert states(session)["rozetka-main"].lease_owner == ""  # the lease taken to look is given back
    again = pull_account(store, adapter(sandbox), owner="daemon-b", fresh_for=timedelta(0))
    assert again.skipped == "" and len(searches(sandbox)) > before


def test_a_pull_that_took_long_does_not_make_its_own_next_pull_look_fresh(store, sandbox):
    """A good pull counts as of its start: the next one, an interval after that start, is made however long the
    last one took (counted from its end, a slow pull would make the daemon skip every other interval)."""
    sandbox.faults.next("slow", times=1, seconds=0.4, path="/orders/search")
    pull_account(store, adapter(sandbox), owner="daemon-a")  # took ≥ 0.4 s
    again = pull_account(store, adapter(sandbox), owner="daemon-a", fresh_for=timedelta(seconds=0.3))
    assert again.skipped == ""
