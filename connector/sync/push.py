"""Push the outbox: lease due commands, let the order's adapter carry each out, record what happened.

Outcomes, by what the error means (connector/errors.py):
- done: the adapter reached the command's goal (or found it already reached); the order is re-read at once.
- transient: back to pending with a persisted attempt count and the next time from RETRY_AFTER; failed after
  MAX_ATTEMPTS.
- permanent or invalid: failed, with the marketplace's own words and a hint; `connector outbox retry` requeues it.
- conflict: the marketplace moved the order somewhere the command cannot follow (the buyer cancelled): failed, and
  the order is flagged for review. Nothing overwrites the marketplace.
- auth: the account is paused and the command waits, its attempt given back: a person must fix the credentials.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa

from adapters.base import MarketplaceAdapter
from connector.domain import Actor, Status, build_command, utcnow
from connector.errors import (
    AuthError,
    CommandInvalid,
    ConflictError,
    PermanentError,
    StoreError,
    TransientError,
    describe,
)
from connector.logs import bound_contextvars, get_logger
from connector.store import Store
from connector.store.accounts import pause, paused_accounts
from connector.store.accounts import reclaim_dead_local_leases
from connector.store.commands import Leased, finish, lease_due, renew
from connector.store.orders import upsert_pulled
from connector.store.tables import OrderRow
from connector.sync import LEASE_TTL, WRITE_SETTLE, heartbeat, process_alive

log = get_logger(__name__)

LEASE = LEASE_TTL  # renewed by a heartbeat while the push runs; a dead pusher's lease runs out in a minute
PAUSE = timedelta(minutes=30)
MAX_ATTEMPTS = 8
# Wait before attempt N+1 (from the N-th on, the last entry): quick at first, then patient.
RETRY_AFTER = (timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10),
               timedelta(minutes=30), timedelta(hours=1))


@dataclass
class PushSummary:
    done: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (account, done|retrying|failed|paused)

    @property
    def pushed(self) -> int:
        return len(self.done) + len(self.retrying) + len(self.failed)


def retry_after(attempts: int) -> timedelta:
    return RETRY_AFTER[min(attempts, len(RETRY_AFTER)) - 1]


def push_due(store: Store, adapters: Mapping[str, MarketplaceAdapter], owner: str, *,
             stop: threading.Event | None = None, limit: int = 20, settle: timedelta = WRITE_SETTLE) -> PushSummary:
    """Up to ``limit`` due commands of the accounts in ``adapters``, one lease at a time (a batch leased at once
    could outlive its lease while it waits its turn, and be pushed again elsewhere); returns what happened."""
    summary = PushSummary()
    with store.transaction() as session:  # a killed pusher on this host: its commands back, after WRITE_SETTLE
        freed = reclaim_dead_local_leases(session, socket.gethostname(), process_alive, settle=settle,
                                          accounts=())
    if freed:
        log.info("took over commands of a dead pusher on this host; each waits for its last write to land",
                 commands=freed, wait=str(settle))
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        with store.transaction() as session:
            accounts = set(adapters) - paused_accounts(session) - summary.paused
            leased = lease_due(session, owner, ttl=LEASE, accounts=accounts, limit=1, settle=settle)
        if not leased:
            break
        command = leased[0]
        with bound_contextvars(account=command.account, order=command.external_id, command=command.id,
                               job="push"):
            if command.attempts > MAX_ATTEMPTS:  # it kept killing its pushers: stop taking it
                _failed(store, command, owner, f"gave up after {command.attempts - 1} attempts that never finished",
                        "each attempt ended without an outcome (a crash?); `connector outbox retry ID` tries again",
                        summary)
                continue
            _push_one(store, adapters[command.account], command, owner, summary)
    return summary


def _push_one(store: Store, adapter: MarketplaceAdapter, leased: Leased, owner: str, summary: PushSummary) -> None:
    try:
        if leased.payload is None:
            raise CommandInvalid(f"command {leased.id}'s payload is not a JSON object",
                                 hint='write the fields as JSON, e.g. {"ttn": "20450000000000"}')
        command = build_command(leased.kind, leased.payload)
        try:
            command.check_allowed_from(Status(leased.order_status))
        except CommandInvalid as exc:
            # The order moved on since the command was written (enqueue checked it then; an ERP's INSERT was not
            # checked at all): a conflict with the marketplace's state, which wins.
            raise ConflictError(exc.message, hint="the order is flagged for review; the marketplace's state wins") \
                from None
        with heartbeat(lambda: _renew(store, leased.id, owner)):
            result = adapter.push(command, leased.external_id)
    except ConflictError as exc:
        _failed(store, leased, owner, exc.message, exc.hint or "", summary)
        _flag(store, leased.order_id, f"command {leased.id} ({leased.kind}) conflicts: {exc.message}")
    except (CommandInvalid, PermanentError) as exc:
        _failed(store, leased, owner, exc.message, exc.hint or "", summary)
    except AuthError as exc:
        log.error("ALERT account paused", reason=exc.message, hint=exc.hint)
        with store.transaction() as session:
            pause(session, leased.account, f"{exc.message} ({exc.hint})" if exc.hint else exc.message,
                  until=utcnow() + PAUSE)
        _finish(store, leased.id, owner, state="pending", error=exc.message, hint=exc.hint or "",
                refund_attempt=True, next_attempt_at=utcnow())
        summary.paused.add(leased.account)
        summary.outcomes.append((leased.account, "paused"))
    except Exception as exc:  # noqa: BLE001  (transient, or a bug: either way the command must not be lost)
        transient = isinstance(exc, TransientError)
        message = exc.message if transient else describe(exc)
        if not transient:
            log.exception("push failed unexpectedly; will retry")
        if leased.attempts >= MAX_ATTEMPTS:
            _failed(store, leased, owner, f"gave up after {leased.attempts} attempts: {message}",
                    "the marketplace kept failing; `connector outbox retry ID` tries again", summary)
            return
        _finish(store, leased.id, owner, state="pending", error=message,
                next_attempt_at=utcnow() + retry_after(leased.attempts))
        summary.retrying.append(leased.id)
        summary.outcomes.append((leased.account, "retrying"))
    else:
        text = "; ".join(result.sent + result.skipped) or "nothing to do"
        held = _finish(store, leased.id, owner, state="done", result=text)
        if not held:
            log.warning("pushed, but the lease had run out: another daemon may hold the command now", result=text)
        summary.done.append(leased.id)
        summary.outcomes.append((leased.account, "done"))
        log.info("pushed", command_kind=leased.kind, result=text)
        _refresh(store, adapter, leased, text)


def _renew(store: Store, command_id: int, owner: str) -> bool:
    with store.transaction() as session:
        return renew(session, command_id, owner, LEASE)


def _finish(store: Store, command_id: int, owner: str, **outcome) -> bool:
    """Record a push's outcome, through a short store outage: the write already landed at the marketplace, and an
    outcome lost here would leave the order's commands waiting until the lease ran out and a re-read."""
    for wait in (0.5, 1.0, 2.0, None):
        try:
            with store.transaction() as session:
                return finish(session, command_id, owner, **outcome)
        except StoreError as exc:
            if wait is None or not isinstance(exc.__cause__, sa.exc.OperationalError):
                raise
            log.warning("recording the push's outcome failed; trying again", error=describe(exc))
            time.sleep(wait)
    return False


def _failed(store: Store, leased: Leased, owner: str, message: str, hint: str, summary: PushSummary) -> None:
    _finish(store, leased.id, owner, state="failed", error=message, hint=hint)
    summary.failed.append(leased.id)
    summary.outcomes.append((leased.account, "failed"))
    log.warning("push failed", command_kind=leased.kind, error=message, hint=hint)


def _flag(store: Store, order_id: int, reason: str) -> None:
    with store.transaction() as session:
        session.execute(sa.update(OrderRow).where(OrderRow.id == order_id)
                        .values(needs_review=True, review_reason=reason[:500], version=OrderRow.version + 1),
                        execution_options={"synchronize_session": False})


def _refresh(store: Store, adapter: MarketplaceAdapter, leased: Leased, result: str) -> None:
    """Read the order back at once, so the store shows the pushed status now, not at the next pull; the change is
    the seller's, and the history says so."""
    try:
        pulled = adapter.fetch(leased.external_id)
        if pulled.order is not None:
            with store.transaction() as session:
                upsert_pulled(session, pulled.order, pulled.raw, actor=Actor.SELLER,
                              comment=f"command {leased.id} ({leased.kind}): {result}")
    except Exception as exc:  # noqa: BLE001  (the push succeeded; the next pull brings the order in anyway)
        log.warning("could not re-read the order after the push", error=str(exc))
