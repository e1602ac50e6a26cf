"""The outbox and the push job on SQLite and PostgreSQL, with a fake adapter that raises what each test needs.

Leases (who holds a command, until when), the one-at-a-time rule per order, SKIP LOCKED on PostgreSQL, every push
outcome of connector/sync/push.py, requeue/cancel, and the pull job's account leases and pauses.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from adapters.base import Page, PulledOrder, PushResult
from connector.domain import Status, build_command, utcnow
from connector.errors import (
    AuthError,
    CommandInvalid,
    ConflictError,
    OrderNotFound,
    PermanentError,
    TransientError,
)
from connector.store.accounts import acquire, pause, paused_accounts, states
from connector.store.commands import cancel, enqueue, finish, lease_due, requeue
from connector.store.orders import upsert_pulled
from connector.store.tables import CommandRow, OrderRow, StatusHistoryRow
from connector.sync.pull import pull_account
from connector.sync.push import MAX_ATTEMPTS, RETRY_AFTER, push_due
from tests.conftest import empty
from tests.factories import pulled, raw_of

MAIN, OTHER = "rozetka-main", "rozetka-second"
TTL = timedelta(minutes=10)
SLACK = timedelta(seconds=5)


class FakeAdapter:
    """A marketplace port whose pushes succeed unless ``outcomes`` names what an order's push raises."""

    marketplace = "rozetka"

    def __init__(self, account: str = MAIN, *, pages: list[Page] | None = None,
                 pull_error: Exception | None = None) -> None:
        self.account = account
        self.outcomes: dict[str, Exception | PushResult] = {}
        self.pushed: list[tuple[str, str]] = []  # (command kind, external_id), in push order
        self.fetched: list[str] = []
        self.pulls = 0
        self.pages = pages or []
        self.pull_error = pull_error
        self.closed = False

    def push(self, command, external_id: str) -> PushResult:
        self.pushed.append((str(command.kind), external_id))
        outcome = self.outcomes.get(external_id, PushResult(["status 26"], [], "26"))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def fetch(self, external_id: str) -> PulledOrder:
        self.fetched.append(external_id)
        order = pulled(external_id, Status.ACCEPTED, code="26", minutes=5, account=self.account)
        return PulledOrder(external_id, raw_of(order), order)

    def pull(self, cursor: str | None) -> Iterator[Page]:
        self.pulls += 1
        yield from self.pages
        if self.pull_error is not None:
            raise self.pull_error

    def close(self) -> None:
        self.closed = True


# -- helpers -------------------------------------------------------------------------------------------------

def make_order(store, external_id: str = "1", status: Status = Status.NEW, code: str = "1",
               account: str = MAIN) -> int:
    order = pulled(external_id, status, code=code, account=account)
    with store.transaction() as session:
        return upsert_pulled(session, order, raw_of(order)).order_id


def queue(store, order_id: int, kind: str = "accept", payload: dict | None = None, key: str | None = None) -> int:
    with store.transaction() as session:
        return enqueue(session, session.get(OrderRow, order_id), build_command(kind, payload), key=key).row.id


def insert_raw(store, order_id: int, kind: str, payload: str, key: str) -> int:
    """A row as an ERP writes it: the statement of docs/erp-contract.md §5, no enqueue checks."""
    with store.transaction() as session:
        session.execute(sa.text(
            "INSERT INTO commands (idempotency_key, order_id, kind, payload, state, attempts, next_attempt_at, "
            "locked_by, last_error, hint, requested_by, created_at, updated_at) "
            "VALUES (:key, :order_id, :kind, :payload, 'pending', 0, CURRENT_TIMESTAMP, '', '', '', 'erp', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"key": key, "order_id": order_id, "kind": kind,
                                                       "payload": payload})
        return session.exec(select(CommandRow.id).where(CommandRow.idempotency_key == key)).one()


def command(store, command_id: int) -> CommandRow:
    with store.transaction() as session:
        return session.get(CommandRow, command_id)


def order_row(store, order_id: int) -> OrderRow:
    with store.transaction() as session:
        return session.get(OrderRow, order_id)


def lease(store, owner: str = "pusher-a", *, accounts=(MAIN,), limit: int = 20, now=None) -> list[int]:
    with store.transaction() as session:
        return [c.id for c in lease_due(session, owner, ttl=TTL, accounts=set(accounts), limit=limit, now=now)]


def set_command(store, command_id: int, **values) -> None:
    with store.transaction() as session:
        session.execute(sa.update(CommandRow).where(CommandRow.id == command_id).values(**values))


# -- leases --------------------------------------------------------------------------------------------------

def test_lease_due_takes_due_pending_rows_marks_them_in_progress_and_counts_the_attempt(store):
    a, b = make_order(store, "1"), make_order(store, "2")
    first, second = queue(store, a), queue(store, b, "ship", {"ttn": "2045 0000 0000 00"})
    before = utcnow()
    with store.transaction() as session:
        leased = lease_due(session, "pusher-a", ttl=TTL, accounts={MAIN})
    assert [(c.id, c.kind, c.attempts, c.external_id, c.order_status) for c in leased] == [
        (first, "accept", 1, "1", "new"), (second, "ship", 1, "2", "new")]
    assert leased[1].payload == {"ttn": "20450000000000"}  # the carrier is routed at intake, not here
    row = command(store, first)
    assert (row.state, row.locked_by, row.attempts) == ("in_progress", "pusher-a", 1)
    assert before + TTL <= row.locked_until <= utcnow() + TTL
    assert lease(store, "pusher-b") == []  # a held lease is not taken by anyone else


def test_a_row_whose_lease_expired_is_taken_again_and_counted_again(store):
    command_id = queue(store, make_order(store))
    assert lease(store, "crashed") == [command_id]
    held_until = command(store, command_id).locked_until
    assert lease(store, "rescuer", now=held_until - timedelta(seconds=1)) == []
    assert lease(store, "rescuer", now=held_until + timedelta(seconds=1)) == [command_id]
    row = command(store, command_id)
    assert (row.state, row.locked_by, row.attempts) == ("in_progress", "rescuer", 2)


def test_a_row_whose_next_attempt_is_in_the_future_waits_for_it(store):
    command_id = queue(store, make_order(store))
    later = utcnow() + timedelta(minutes=3)
    set_command(store, command_id, next_attempt_at=later)
    assert lease(store) == []
    assert command(store, command_id).attempts == 0  # looking at it does not count as an attempt
    assert lease(store, now=later + timedelta(seconds=1)) == [command_id]


def test_only_the_accounts_asked_for_are_leased(store):
    mine = queue(store, make_order(store, "1"))
    queue(store, make_order(store, "2", account=OTHER))
    assert lease(store, accounts=(MAIN,)) == [mine]


def test_commands_of_one_order_go_one_at_a_time_oldest_first(store):
    a, b = make_order(store, "1"), make_order(store, "2")
    a1 = queue(store, a, "accept")
    a2 = queue(store, a, "comment", {"text": "packed"})
    a3 = queue(store, a, "ship", {"ttn": "20450000000000"})
    b1 = queue(store, b, "accept")
    assert lease(store) == [a1, b1]  # a2 and a3 wait behind a1; the other order goes on
    assert lease(store) == []  # a1 in progress still blocks a2
    with store.transaction() as session:
        assert finish(session, a1, "pusher-a", state="done", result="ok")
    assert lease(store) == [a2]  # the next of the order, and only it
    with store.transaction() as session:
        # a2 is retried later: while it waits as pending, a3 must not overtake it
        finish(session, a2, "pusher-a", state="pending", error="later",
               next_attempt_at=utcnow() + timedelta(minutes=5))
    assert lease(store) == []
    set_command(store, a2, state="failed")  # a failed command no longer holds the order back
    assert lease(store) == [a3]


def test_on_postgresql_a_lease_held_open_is_skipped_not_waited_for(pg_store):
    empty(pg_store)
    ids = [queue(pg_store, make_order(pg_store, str(n))) for n in range(4)]
    with Session(pg_store.engine) as first:
        held = [c.id for c in lease_due(first, "daemon-1", ttl=TTL, accounts={MAIN}, limit=2)]
        got: dict[str, list[int]] = {}

        def second() -> None:
            with Session(pg_store.engine) as session:
                session.execute(sa.text("SET LOCAL lock_timeout = '5s'"))  # a wait would fail, not hang
                got["ids"] = [c.id for c in lease_due(session, "daemon-2", ttl=TTL, accounts={MAIN})]
                session.commit()

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the second lease waited for the first transaction's locks"
        first.commit()
    assert held == ids[:2] and got["ids"] == ids[2:]
    with pg_store.transaction() as session:
        rows = {r.id: r for r in session.exec(select(CommandRow))}
    assert {rows[i].locked_by for i in held} == {"daemon-1"}
    assert {rows[i].locked_by for i in got["ids"]} == {"daemon-2"}
    assert all(r.attempts == 1 for r in rows.values())


def test_on_postgresql_concurrent_leases_never_take_the_same_row(pg_store):
    empty(pg_store)
    ids = [queue(pg_store, make_order(pg_store, str(n))) for n in range(12)]
    workers = 4
    start, hold = threading.Barrier(workers, timeout=20), threading.Barrier(workers, timeout=20)
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with Session(pg_store.engine) as session:
                session.execute(sa.text("SELECT 1"))  # the transaction is open before anyone leases
                start.wait()
                results[name] = [c.id for c in lease_due(session, name, ttl=TTL, accounts={MAIN}, limit=3)]
                hold.wait()  # every transaction stays open until all have leased
                session.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"daemon-{n}",)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(results) == workers
    taken = [i for got in results.values() for i in got]
    assert len(taken) == len(set(taken)) == 12 and sorted(taken) == ids
    with pg_store.transaction() as session:
        assert {r.attempts for r in session.exec(select(CommandRow))} == {1}


def test_finish_by_a_holder_whose_lease_was_taken_over_does_nothing(store):
    command_id = queue(store, make_order(store))
    lease(store, "slow-pusher")
    lease(store, "rescuer", now=utcnow() + TTL + timedelta(seconds=1))
    with store.transaction() as session:
        assert finish(session, command_id, "slow-pusher", state="failed", error="late") is False
    row = command(store, command_id)
    assert (row.state, row.locked_by, row.last_error) == ("in_progress", "rescuer", "")
    with store.transaction() as session:
        assert finish(session, command_id, "rescuer", state="done", result="ok") is True
    assert (command(store, command_id).state, command(store, command_id).locked_by) == ("done", "")


# -- push_due outcomes ---------------------------------------------------------------------------------------

def test_a_successful_push_is_done_with_the_adapters_result_and_the_order_is_read_back(store):
    order_id = make_order(store, "1")
    command_id = queue(store, order_id, "accept")
    adapter = FakeAdapter()
    adapter.outcomes["1"] = PushResult(["status 26"], ["comment already there"], "26")
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    row = command(store, command_id)
    assert summary.done == [command_id] and adapter.pushed == [("accept", "1")]
    assert (row.state, row.result, row.attempts, row.locked_by, row.last_error) == (
        "done", "status 26; comment already there", 1, "", "")
    assert adapter.fetched == ["1"] and order_row(store, order_id).status == "accepted"
    with store.transaction() as session:
        last = session.exec(select(StatusHistoryRow).where(StatusHistoryRow.order_id == order_id)
                            .order_by(StatusHistoryRow.id.desc())).first()
    assert last.actor == "seller" and f"command {command_id} (accept)" in last.comment
    assert push_due(store, {MAIN: adapter}, "pusher-a").pushed == 0  # done is final


def test_a_transient_error_leaves_the_command_pending_until_its_retry_time(store):
    command_id = queue(store, make_order(store, "1"))
    adapter = FakeAdapter()
    adapter.outcomes["1"] = TransientError("Rozetka answered 503")
    before = utcnow()
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    after = utcnow()
    row = command(store, command_id)
    assert summary.retrying == [command_id]
    assert (row.state, row.attempts, row.last_error, row.locked_by) == ("pending", 1, "Rozetka answered 503", "")
    assert before + RETRY_AFTER[0] <= row.next_attempt_at <= after + RETRY_AFTER[0]
    assert push_due(store, {MAIN: adapter}, "pusher-a").pushed == 0 and len(adapter.pushed) == 1


def test_a_transient_error_on_the_last_attempt_fails_the_command(store):
    command_id = queue(store, make_order(store, "1"))
    set_command(store, command_id, attempts=MAX_ATTEMPTS - 1)
    adapter = FakeAdapter()
    adapter.outcomes["1"] = TransientError("Rozetka answered 503")
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    row = command(store, command_id)
    assert summary.failed == [command_id] and row.state == "failed" and row.attempts == MAX_ATTEMPTS
    assert row.last_error == f"gave up after {MAX_ATTEMPTS} attempts: Rozetka answered 503"
    assert "connector outbox retry" in row.hint


@pytest.mark.parametrize("error", [
    PermanentError("Неможливо змінити статус. З 6 на 26.", hint="check it in the cabinet"),
    CommandInvalid("Rozetka has no way to refund an order", hint="do it in the seller cabinet"),
])
def test_a_permanent_or_invalid_command_fails_with_the_message_and_hint(store, error):
    order_id = make_order(store, "1")
    command_id = queue(store, order_id)
    adapter = FakeAdapter()
    adapter.outcomes["1"] = error
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    row = command(store, command_id)
    assert summary.failed == [command_id]
    assert (row.state, row.last_error, row.hint, row.locked_by) == ("failed", error.message, error.hint, "")
    assert not order_row(store, order_id).needs_review  # a refusal is not a conflict


def test_a_conflict_fails_the_command_and_flags_the_order(store):
    order_id = make_order(store, "1")
    command_id = queue(store, order_id, "ship", {"ttn": "20450000000000"})
    adapter = FakeAdapter()
    adapter.outcomes["1"] = ConflictError("the order is cancelled on Rozetka",
                                          hint="the marketplace's state wins")
    push_due(store, {MAIN: adapter}, "pusher-a")
    row, order = command(store, command_id), order_row(store, order_id)
    assert (row.state, row.last_error) == ("failed", "the order is cancelled on Rozetka")
    assert order.needs_review and f"command {command_id} (ship)" in order.review_reason
    assert order.status == "new"  # nothing overwrites the marketplace


def test_an_auth_error_pauses_the_account_and_gives_the_attempt_back(store):
    first = queue(store, make_order(store, "1"))
    second = queue(store, make_order(store, "2"))
    adapter = FakeAdapter()
    adapter.outcomes["1"] = AuthError("token refused", hint="check ROZETKA_PASSWORD")
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    assert summary.paused == {MAIN} and adapter.pushed == [("accept", "1")]  # the second was not tried
    with store.transaction() as session:
        assert paused_accounts(session) == {MAIN}
        state = states(session)[MAIN]
    assert state.paused_until > utcnow() + timedelta(minutes=20) and "token refused" in state.paused_reason
    for command_id in (first, second):
        row = command(store, command_id)
        assert (row.state, row.attempts, row.locked_by) == ("pending", 0, "")
    assert command(store, first).last_error == "token refused"
    assert push_due(store, {MAIN: adapter}, "pusher-a").pushed == 0 and len(adapter.pushed) == 1


def test_an_auth_error_on_one_account_does_not_hold_back_another_accounts_commands(store):
    """Only the paused account's commands wait: the others leased in the same pass are still pushed."""
    paused_first = queue(store, make_order(store, "1"))
    paused_second = queue(store, make_order(store, "2"))
    other = queue(store, make_order(store, "3", account=OTHER))
    main, second = FakeAdapter(MAIN), FakeAdapter(OTHER)
    main.outcomes["1"] = AuthError("token refused")
    summary = push_due(store, {MAIN: main, OTHER: second}, "pusher-a")
    assert main.pushed == [("accept", "1")] and command(store, paused_second).state == "pending"
    assert command(store, paused_first).attempts == 0
    assert second.pushed == [("accept", "3")] and summary.done == [other]
    assert command(store, other).state == "done"


def test_an_unexpected_exception_is_retried_like_a_transient_and_never_lost(store):
    command_id = queue(store, make_order(store, "1"))
    adapter = FakeAdapter()
    adapter.outcomes["1"] = KeyError("status_available")
    before = utcnow()
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    row = command(store, command_id)
    assert summary.retrying == [command_id]
    assert (row.state, row.attempts, row.locked_by) == ("pending", 1, "")
    assert row.last_error == "KeyError: 'status_available'" and row.next_attempt_at >= before + RETRY_AFTER[0]
    set_command(store, command_id, next_attempt_at=utcnow())
    del adapter.outcomes["1"]
    assert push_due(store, {MAIN: adapter}, "pusher-a").done == [command_id]


@pytest.mark.parametrize("kind,payload,error,hint", [
    ("ship", "{}", "ship needs ttn", "ttn: the carrier's tracking number (TTN), e.g. --ttn 20450000000000"),
    ("ship", '{"ttn": "   "}', "ship needs ttn", "ttn:"),
    ("cancel", '{"reason": "bored"}', "cancel reason 'bored' is not known", "one of buyer_request"),
    ("accept", '{"colour": "red"}', "accept does not take colour", "it takes comment"),
    ("teleport", "{}", "unknown command 'teleport'", "one of accept"),
])
def test_a_bad_row_inserted_directly_fails_naming_what_is_wrong(store, kind, payload, error, hint):
    order_id = make_order(store, "1")
    command_id = insert_raw(store, order_id, kind, payload, key="erp:INV-1")
    adapter = FakeAdapter()
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    row = command(store, command_id)
    assert summary.failed == [command_id] and adapter.pushed == []
    assert row.state == "failed" and row.last_error == error and hint in row.hint


def test_a_good_row_inserted_directly_is_pushed(store):
    order_id = make_order(store, "1")
    payload = json.dumps({"ttn": "20450000000000", "carrier": "novaposhta"})
    command_id = insert_raw(store, order_id, "ship", payload, key="erp:INV-2")
    adapter = FakeAdapter()
    assert push_due(store, {MAIN: adapter}, "pusher-a").done == [command_id]
    assert adapter.pushed == [("ship", "1")] and command(store, command_id).requested_by == "erp"


def test_a_row_whose_payload_is_not_json_fails_and_does_not_block_the_outbox(store):
    """Exposes a bug in connector/store/commands.py lease_due: ``json.loads(row.payload or "{}")`` runs inside the
    lease transaction, so one ERP row whose payload is not JSON raises JSONDecodeError out of lease_due, rolls the
    whole lease back, and no command of any order is ever pushed again (docs/erp-contract.md §5: an invalid row
    ends in state failed)."""
    bad = insert_raw(store, make_order(store, "1"), "ship", "ttn=20450000000000", key="erp:INV-3")
    good = queue(store, make_order(store, "2"))
    adapter = FakeAdapter()
    summary = push_due(store, {MAIN: adapter}, "pusher-a")
    assert summary.done == [good] and adapter.pushed == [("accept", "2")]
    row = command(store, bad)
    assert row.state == "failed" and row.last_error


def test_a_row_inserted_directly_whose_target_is_unreachable_fails_before_any_request(store):
    """Exposes a bug in connector/sync/push.py _push_one: a row inserted directly is validated with build_command
    only; its target is never checked against the order's current status (``Leased.order_status`` is unused), so
    cancelling a shipped order reaches the marketplace adapter instead of failing as docs/erp-contract.md §5
    promises ("it validates each row by ... a target reachable from the current status")."""
    order_id = make_order(store, "1", Status.SHIPPED, code="3")
    command_id = insert_raw(store, order_id, "cancel", '{"reason": "buyer_request"}', key="erp:INV-4")
    adapter = FakeAdapter()
    push_due(store, {MAIN: adapter}, "pusher-a")
    row = command(store, command_id)
    assert adapter.pushed == []
    assert row.state == "failed" and "not reachable from shipped" in row.last_error


def test_a_push_pass_leaves_accounts_without_an_adapter_alone(store):
    mine = queue(store, make_order(store, "1"))
    theirs = queue(store, make_order(store, "2", account=OTHER))
    adapter = FakeAdapter()
    assert push_due(store, {MAIN: adapter}, "pusher-a").done == [mine]
    assert command(store, theirs).state == "pending" and command(store, theirs).attempts == 0


def test_a_stop_request_gives_the_leased_commands_back_untouched(store):
    ids = [queue(store, make_order(store, str(n))) for n in range(3)]
    stop = threading.Event()
    stop.set()
    adapter = FakeAdapter()
    summary = push_due(store, {MAIN: adapter}, "pusher-a", stop=stop)
    assert summary.pushed == 0 and adapter.pushed == []
    assert [(command(store, i).state, command(store, i).attempts) for i in ids] == [("pending", 0)] * 3


# -- requeue and cancel --------------------------------------------------------------------------------------

def test_requeue_resets_a_failed_command(store):
    command_id = queue(store, make_order(store, "1"))
    adapter = FakeAdapter()
    adapter.outcomes["1"] = PermanentError("refused", hint="look in the cabinet")
    push_due(store, {MAIN: adapter}, "pusher-a")
    assert command(store, command_id).state == "failed"
    with store.transaction() as session:
        requeue(session, command_id)
    row = command(store, command_id)
    assert (row.state, row.attempts, row.last_error, row.hint) == ("pending", 0, "", "")
    assert row.next_attempt_at <= utcnow()
    del adapter.outcomes["1"]
    assert push_due(store, {MAIN: adapter}, "pusher-a").done == [command_id]


def test_requeue_refuses_a_command_that_has_not_failed_and_an_unknown_id(store):
    command_id = queue(store, make_order(store, "1"))
    with pytest.raises(CommandInvalid, match="is pending"), store.transaction() as session:
        requeue(session, command_id)
    with pytest.raises(OrderNotFound), store.transaction() as session:
        requeue(session, command_id + 1000)


def test_cancel_only_cancels_a_pending_command(store):
    pending = queue(store, make_order(store, "1"))
    running = queue(store, make_order(store, "2"))
    done = queue(store, make_order(store, "3"))
    set_command(store, running, state="in_progress", locked_by="pusher-a", locked_until=utcnow() + TTL)
    set_command(store, done, state="done")
    with store.transaction() as session:
        assert cancel(session, pending).state == "cancelled"
    for command_id, state in ((running, "in_progress"), (done, "done"), (pending, "cancelled")):
        with pytest.raises(CommandInvalid, match=f"is {state}"), store.transaction() as session:
            cancel(session, command_id)
        assert command(store, command_id).state == state
    assert lease(store) == []  # a cancelled command is never pushed
    assert lease(store, "pusher-b", now=utcnow() + TTL + timedelta(minutes=1)) == [running]


# -- pull_account: leases and pauses -------------------------------------------------------------------------

def one_page() -> list[Page]:
    order = pulled("77")
    return [Page([PulledOrder("77", raw_of(order), order)], cursor="2026-11-01T09:00:00+00:00")]


def test_a_paused_account_is_skipped_with_the_reason(store):
    adapter = FakeAdapter(pages=one_page())
    with store.transaction() as session:
        pause(session, MAIN, "token refused", until=utcnow() + timedelta(minutes=30))
    summary = pull_account(store, adapter)
    assert summary.skipped == "paused after an authentication failure" and adapter.pulls == 0
    assert summary.created == 0


def test_an_account_leased_by_another_owner_is_skipped_and_its_lease_left_alone(store):
    adapter = FakeAdapter(pages=one_page())
    with store.transaction() as session:
        assert acquire(session, MAIN, "daemon-2", timedelta(minutes=5))
    summary = pull_account(store, adapter, owner="daemon-1")
    assert summary.skipped == "another daemon is pulling this account" and adapter.pulls == 0
    with store.transaction() as session:
        assert states(session)[MAIN].lease_owner == "daemon-2"


def test_an_expired_lease_of_another_owner_does_not_stop_the_pull(store):
    adapter = FakeAdapter(pages=one_page())
    with store.transaction() as session:
        acquire(session, MAIN, "crashed", timedelta(minutes=5), now=utcnow() - timedelta(minutes=6))
    summary = pull_account(store, adapter, owner="daemon-1")
    assert summary.skipped == "" and summary.created == 1


def test_the_lease_is_released_after_the_pull_and_after_a_failed_one(store):
    adapter = FakeAdapter(pages=one_page())
    summary = pull_account(store, adapter, owner="daemon-1")
    assert summary.created == 1 and summary.cursor == "2026-11-01T09:00:00+00:00"
    with store.transaction() as session:
        state = states(session)[MAIN]
    assert (state.lease_owner, state.lease_until, state.failures) == ("", None, 0)
    assert state.last_pull_ok_at is not None
    failing = FakeAdapter(pull_error=TransientError("Rozetka answered 502"))
    with pytest.raises(TransientError):
        pull_account(store, failing, owner="daemon-1")
    with store.transaction() as session:
        state = states(session)[MAIN]
    assert (state.lease_owner, state.lease_until, state.failures) == ("", None, 1)
    assert state.last_error == "Rozetka answered 502" and state.paused_until is None
    with store.transaction() as session:
        assert acquire(session, MAIN, "daemon-2", timedelta(minutes=5))  # free for anyone now


def test_an_auth_error_from_the_adapter_pauses_the_account(store):
    queued = queue(store, make_order(store, "1"))
    adapter = FakeAdapter(pull_error=AuthError("incorrect_username_password", hint="check ROZETKA_PASSWORD"))
    with pytest.raises(AuthError):
        pull_account(store, adapter, owner="daemon-1")
    with store.transaction() as session:
        state = states(session)[MAIN]
        assert paused_accounts(session) == {MAIN}
    assert state.paused_until > utcnow() + timedelta(minutes=20)
    assert "incorrect_username_password" in state.paused_reason and state.lease_owner == ""
    assert pull_account(store, adapter, owner="daemon-1").skipped and adapter.pulls == 1
    assert push_due(store, {MAIN: adapter}, "daemon-1").pushed == 0
    assert command(store, queued).state == "pending" and adapter.pushed == []


def test_a_restarted_daemon_takes_over_the_leases_of_a_dead_one_on_the_same_host(store):
    """A crashed daemon's leases are freed at once by the next daemon on that host, not after they run out."""
    from datetime import timedelta

    from connector.store.accounts import acquire, reclaim_dead_local_leases
    from connector.store.tables import AccountStateRow
    with store.transaction() as session:
        assert acquire(session, "acc", "host-a:4242:x", timedelta(minutes=5))
        assert acquire(session, "other", "host-a:4343:y", timedelta(minutes=5))
        assert acquire(session, "far", "host-b:4242:z", timedelta(minutes=5))
    with store.transaction() as session:
        freed = reclaim_dead_local_leases(session, "host-a", alive=lambda pid: pid == 4343,
                                          settle=timedelta(seconds=45))
    with store.transaction() as session:
        owners = {r.account: r.lease_owner for r in session.exec(select(AccountStateRow))}
    assert freed == ["account_state:acc"]
    assert owners == {"acc": "", "other": "host-a:4343:y", "far": "host-b:4242:z"}


def test_a_command_that_keeps_killing_its_pushers_is_failed_without_another_try(store):
    """Attempts are counted when a command is taken; one that never finishes cannot loop forever."""
    from connector.sync.push import MAX_ATTEMPTS
    from connector.store.tables import CommandRow as C
    command_id = queue(store, make_order(store), "accept", {})
    with store.transaction() as session:
        session.get(C, command_id).attempts = MAX_ATTEMPTS  # every earlier taker died mid-push
    adapter = FakeAdapter()
    summary = push_due(store, {MAIN: adapter}, "daemon-b")
    with store.transaction() as session:
        row = session.get(C, command_id)
    assert summary.failed == [command_id] and row.state == "failed" and "never finished" in row.last_error
    assert adapter.pushed == []


def test_lease_owners_are_unique_per_process_run():
    from connector.sync import owner_id
    a, b = owner_id(), owner_id()
    assert a != b and a.split(":")[1] == b.split(":")[1]  # same host and pid, different runs


# -- takeovers (issue: crash recovery without double pushes) --------------------------------------------------

def _dead_pid() -> int:
    """The pid of a process that has just exited on this host."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_command_of_a_dead_pusher_waits_for_its_last_write_to_land_before_anyone_takes_it(store):
    """Freed at once, its write could still be in flight while the next pusher re-reads the order and sends it
    again: it is given back only after WRITE_SETTLE."""
    import socket

    from connector.sync import WRITE_SETTLE
    command_id = queue(store, make_order(store), "accept", {})
    dead = f"{socket.gethostname()}:{_dead_pid()}:gone"
    assert lease(store, dead) == [command_id]
    adapter = FakeAdapter()
    before = utcnow()
    assert push_due(store, {MAIN: adapter}, "daemon-b").pushed == 0 and adapter.pushed == []
    row = command(store, command_id)
    assert (row.state, row.locked_by) == ("pending", "")
    assert before + WRITE_SETTLE <= row.next_attempt_at <= utcnow() + WRITE_SETTLE
    assert lease(store, "daemon-b", now=row.next_attempt_at + timedelta(seconds=1)) == [command_id]


def test_an_expired_push_lease_is_taken_only_once_a_late_write_would_have_landed(store):
    command_id = queue(store, make_order(store), "accept", {})
    assert lease(store, "far-away-host:1:x") == [command_id]
    expired = command(store, command_id).locked_until
    with store.transaction() as session:
        take = lambda at: [c.id for c in lease_due(session, "b", ttl=TTL, accounts={MAIN}, settle=timedelta(  # noqa
            seconds=45), now=at)]
        assert take(expired + timedelta(seconds=10)) == []
        assert take(expired + timedelta(seconds=46)) == [command_id]


def test_a_pull_lease_of_a_killed_sync_on_this_host_is_taken_over_at_once_by_the_next_run(store):
    """A killed `sync --once` must not keep the account from the next one for the lease's lifetime."""
    import socket

    from connector.store.accounts import acquire
    with store.transaction() as session:
        assert acquire(session, MAIN, f"{socket.gethostname()}:{_dead_pid()}:gone", timedelta(minutes=5))
        assert acquire(session, "elsewhere", "another-host:1:x", timedelta(minutes=5))
    summary = pull_account(store, FakeAdapter(), owner="next-run")
    assert not summary.skipped
    assert pull_account(store, FakeAdapter("elsewhere"), owner="next-run").skipped  # a live lease elsewhere holds


def test_a_push_that_outlives_its_lease_keeps_it_by_heartbeat(store, monkeypatch):
    """Leases are short; a slow marketplace write must not let a second pusher take the same command."""
    import connector.sync as sync
    import connector.sync.push as push
    monkeypatch.setattr(push, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(sync, "HEARTBEAT", timedelta(seconds=0.2))
    command_id = queue(store, make_order(store), "accept", {})
    seen: list[list[int]] = []
    slow = FakeAdapter()

    def push_slowly(command, external_id):
        time.sleep(2.5)  # longer than the lease: only the heartbeat keeps it
        with store.transaction() as session:
            seen.append([c.id for c in lease_due(session, "rival", ttl=TTL, accounts={MAIN})])
        return PushResult(["status 26"], [], "26")

    slow.push = push_slowly
    worker = threading.Thread(target=push_due, args=(store, {MAIN: slow}, "daemon-a"))
    worker.start()
    worker.join(timeout=20)
    assert seen == [[]] and command(store, command_id).state == "done"


def test_an_outcome_that_meets_a_store_blip_is_recorded_when_the_store_is_back(store, monkeypatch):
    import connector.sync.push as push
    real, calls = push.finish, []

    def flaky(session, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE commands", {}, Exception("server closed the connection"))
        return real(session, *args, **kwargs)

    monkeypatch.setattr(push, "finish", flaky)
    monkeypatch.setattr(push.time, "sleep", lambda _s: None)
    command_id = queue(store, make_order(store), "accept", {})
    summary = push_due(store, {MAIN: FakeAdapter()}, "daemon-a")
    assert summary.done == [command_id] and command(store, command_id).state == "done" and len(calls) == 2


def test_on_postgresql_the_lease_query_reads_only_open_commands_whatever_the_statistics(pg_store):
    """Planned with stale statistics, the lease query once scanned every command ever written (1.6 s a lease).
    With 20,000 done commands and no ANALYZE since, its plan must go through the open-commands index."""
    from connector.store.commands import due_query
    empty(pg_store)
    order_id = make_order(pg_store)
    with pg_store.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO commands (idempotency_key, order_id, kind, payload, state, attempts, locked_by, last_error,"
            " hint, result, requested_by, created_at, updated_at) SELECT 'done-' || n, :order, 'accept', '{}', "
            "'done', 1, '', '', '', 'status 26', 'erp', now(), now() FROM generate_series(1, 20000) AS n"),
            {"order": order_id})
    queue(pg_store, order_id, "comment", {"text": "still open"})
    query = due_query({MAIN}, limit=1, settle=timedelta(0), now=utcnow())
    with pg_store.engine.connect() as conn:
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {compiled}")))
    assert "ix_commands_open" in plan and "Seq Scan on commands" not in plan, plan


def test_a_pull_that_loses_an_insert_race_merges_into_the_winners_order(store, monkeypatch):
    """The fast path inserts new orders without a savepoint; losing the race to another writer (a push's
    read-back, a resync) fails the page, which is written again record by record and merges into theirs."""
    import connector.store.pages as pages
    winner = pulled("88", Status.NEW, code="1")
    with store.transaction() as session:
        theirs = upsert_pulled(session, winner, raw_of(winner)).order_id
    mine = pulled("88", Status.ACCEPTED, code="26", minutes=5)
    real_existing, blind = pages._existing, []

    def existing_once_blind(session, keys):  # the page's look happens before the other writer's commit is visible
        blind.append(keys)
        return {} if len(blind) == 1 else real_existing(session, keys)

    monkeypatch.setattr(pages, "_existing", existing_once_blind)
    summary = pull_account(store, FakeAdapter(pages=[Page([PulledOrder("88", raw_of(mine), mine)])]))
    with store.reading() as session:
        rows = session.exec(select(OrderRow).where(OrderRow.external_id == "88")).all()
    assert [r.id for r in rows] == [theirs] and rows[0].status == "accepted" and summary.updated == 1
    assert len(blind) == 1  # the bulk path met the race once; the record-by-record retry merged
