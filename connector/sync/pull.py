"""Pull one account: every page the adapter yields is stored in one transaction, with its cursor when it has one.

At-least-once by design: a crash before a page commits means that page is read again next time, and the upsert
makes a repeat write nothing. One bad record never fails its page: a payload that does not map is kept raw on a
placeholder order flagged for review; a record with no usable order id, or one the database refuses, goes to the
quarantine with its reason; the rest of the page and its cursor are stored either way.
"""

from __future__ import annotations

import contextvars
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from queue import Empty, Full, Queue
from typing import Any
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from adapters.base import MarketplaceAdapter, Page, PulledOrder
from connector.domain import OrderKey, Outcome, Status, utcnow
from connector.domain.limits import identity_problem
from connector.errors import AuthError, OrderIdError, PayloadError, StoreError, describe
from connector.logs import bound_contextvars, get_logger
from connector.store import Store
from connector.store.accounts import (
    acquire,
    pause,
    paused_accounts,
    reclaim_dead_local_leases,
    record_run,
    release,
)
from connector.store.cursors import read_cursor, write_cursor
from connector.store.orders import ConcurrentUpdate, Upsert, keep_unparsed, quarantine, upsert_pulled
from connector.sync import LEASE_TTL, WRITE_SETTLE, heartbeat, owner_id, process_alive

log = get_logger(__name__)

STREAM = "orders"
PAGE_TRIES = 3  # a page that meets a concurrent writer is re-read from the store and written again
LEASE = LEASE_TTL  # renewed by a heartbeat and with every page; a dead puller's lease runs out in a minute
PAUSE = timedelta(minutes=30)


class LeaseLost(StoreError):
    """Our lease on the account ran out and another daemon took it: stop, the page is not written."""


@dataclass
class PullSummary:
    account: str
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unparsed: list[str] = field(default_factory=list)  # "external_id: what did not parse"
    quarantined: list[str] = field(default_factory=list)  # "external_id: why it cannot be an order"
    unmapped: list[str] = field(default_factory=list)  # "external_id: marketplace status code"
    anomalies: int = 0
    notes: list[str] = field(default_factory=list)
    cursor: str | None = None
    skipped: str = ""  # why the account was not pulled at all (paused, or another daemon holds it)

    @property
    def problems(self) -> list[str]:
        return ([f"unparsed {x}" for x in self.unparsed] + [f"quarantined {x}" for x in self.quarantined]
                + [f"unmapped status {x}" for x in self.unmapped])


def pull_account(store: Store, adapter: MarketplaceAdapter, *, owner: str | None = None,
                 stop: threading.Event | None = None, lease: timedelta = LEASE,
                 on_page: Callable[[PullSummary], None] | None = None) -> PullSummary:
    """Pull one account under its lease. Raises what the adapter raises, after recording it on the account (an
    auth failure also pauses the account); a paused or leased-elsewhere account is skipped and says why."""
    summary = PullSummary(adapter.account)
    account, owner = adapter.account, owner or owner_id()
    with bound_contextvars(account=account, job="pull"):
        with store.transaction() as session:
            if account in paused_accounts(session):
                summary.skipped = "paused after an authentication failure"
                return summary
            # a killed daemon or `sync --once` on this host holds no account: its page is simply read again
            reclaim_dead_local_leases(session, socket.gethostname(), process_alive, settle=WRITE_SETTLE,
                                      accounts=[account], commands=False)
            if not acquire(session, account, owner, lease):
                summary.skipped = "another daemon is pulling this account"
                return summary
            summary.cursor = read_cursor(session, account, STREAM)
        try:
            with heartbeat(lambda: _renew(store, account, owner, lease)) as lost:
                _pages(store, adapter, summary, owner, lease, lost, stop, on_page)
        except AuthError as exc:
            log.error("ALERT account paused", reason=exc.message, hint=exc.hint)
            with store.transaction() as session:
                pause(session, account, f"{exc.message} ({exc.hint})" if exc.hint else exc.message,
                      until=utcnow() + PAUSE)
                record_run(session, account, ok=False, error=exc.message)
            raise
        except Exception as exc:
            with store.transaction() as session:
                record_run(session, account, ok=False, error=describe(exc))
            raise
        else:
            if not (stop is not None and stop.is_set()):  # a scan cut short by a shutdown is not a good pull
                with store.transaction() as session:
                    record_run(session, account, ok=True)
        finally:
            with store.transaction() as session:
                release(session, account, owner)
        log.info("pull done", pages=summary.pages, created=summary.created, updated=summary.updated,
                 unchanged=summary.unchanged, unparsed=len(summary.unparsed), unmapped=len(summary.unmapped))
    return summary


def _renew(store: Store, account: str, owner: str, lease: timedelta) -> bool:
    with store.transaction() as session:
        return acquire(session, account, owner, lease)


def _pages(store: Store, adapter: MarketplaceAdapter, summary: PullSummary, owner: str, lease: timedelta,
           lost: threading.Event, stop: threading.Event | None,
           on_page: Callable[[PullSummary], None] | None) -> None:
    with prefetched(lambda: adapter.pull(summary.cursor), stop) as pages:
        for page in pages:
            if lost.is_set():
                raise LeaseLost(f"the lease on {adapter.account} was taken over while its page was read",
                                hint="the other daemon continues the pull; nothing of this page was written")
            _store_page(store, adapter, page, summary, owner, lease)
            if on_page is not None:
                on_page(summary)
            summary.notes += page.notes
            for note in page.notes:
                log.warning("pull note", note=note)
            if stop is not None and stop.is_set():
                summary.notes.append("stopped between pages: shutting down; the next run reads on")
                break


_DONE = object()  # the adapter's scan ended
PREFETCH = 2  # pages read ahead of the store, at most


@contextmanager
def prefetched(scan: Callable[[], Iterator[Page]], stop: threading.Event | None = None,
               depth: int = PREFETCH) -> Iterator[Iterator[Page]]:
    """The pages of ``scan()``, read ahead in a thread of their own while the caller stores the one in hand.

    The scan (the adapter's generator) is started, advanced and closed in that one thread only: the adapter is never
    called from two threads. At most ``depth`` pages wait in the queue (and one more is being read), so a slow store
    holds the reader back and memory stays bounded. What the scan raises is raised to the caller in its place, after
    the pages read before it, so a page and its cursor are stored exactly as without the thread. Once ``stop`` is set
    no further page is asked for. Leaving the block (done, ``break``, an exception) cancels the reader and waits for
    it: a request in flight is finished (it has its own deadline) and thrown away, never stored."""
    queue: Queue[Any] = Queue(maxsize=max(1, depth))
    cancel = threading.Event()
    context = contextvars.copy_context()  # the log fields bound for this pull (account, job) go along

    def put(item: Any) -> bool:
        while not cancel.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            pages = scan()
            try:
                for page in pages:
                    if not put(page) or (stop is not None and stop.is_set()):
                        break
            finally:
                getattr(pages, "close", lambda: None)()  # a generator's own clean-up, in this thread
        except BaseException as exc:  # noqa: BLE001  handed over to the caller, raised there
            put(exc)
        finally:
            put(_DONE)

    def pages() -> Iterator[Page]:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    thread = threading.Thread(target=context.run, args=(read,), name="pull-prefetch", daemon=True)
    thread.start()
    try:
        yield pages()
    finally:
        cancel.set()
        while thread.is_alive():
            with suppress(Empty):
                queue.get(timeout=0.1)  # make room: the reader may be waiting to put
        thread.join()


def _store_page(store: Store, adapter: MarketplaceAdapter, page: Page, summary: PullSummary, owner: str,
                lease: timedelta) -> None:
    # Fast path: the whole page in one transaction. Only if a record fails it is the page written again with each
    # record in a savepoint of its own, so a bad one is set aside without costing every page a round trip more.
    isolate = False
    for attempt in range(1, PAGE_TRIES + 2):
        counts = PullSummary(adapter.account)
        try:
            with store.transaction() as session:
                if not acquire(session, adapter.account, owner, lease):  # renew; lost only if we overran it
                    raise LeaseLost(f"the lease on {adapter.account} ran out and another daemon took it",
                                    hint="the other daemon continues the pull; nothing of this page was written")
                for pulled in page.orders:
                    if isolate:
                        _store_isolated(session, adapter, pulled, counts)
                    else:  # a race lost to another writer fails the page, which is then written again, isolated
                        _store_one(session, adapter, pulled, counts, guarded=False)
                if page.cursor:
                    write_cursor(session, adapter.account, STREAM, page.cursor)
            break
        except ConcurrentUpdate:
            if attempt >= PAGE_TRIES:
                raise
            log.info("page met a concurrent writer; writing it again", attempt=attempt)
        except Exception as exc:
            if isolate or not _record_failure(exc):
                raise
            isolate = True
            log.warning("a record failed its page; writing the page again record by record", error=describe(exc))
    summary.pages += 1
    summary.created += counts.created
    summary.updated += counts.updated
    summary.unchanged += counts.unchanged
    summary.anomalies += counts.anomalies
    summary.unparsed += counts.unparsed
    summary.quarantined += counts.quarantined
    summary.unmapped += counts.unmapped
    if page.cursor:
        summary.cursor = page.cursor
    for problem in counts.unparsed + counts.quarantined + counts.unmapped:
        log.warning("order needs attention", problem=problem)


def _store_one(session: Session, adapter: MarketplaceAdapter, pulled: PulledOrder, counts: PullSummary, *,
               guarded: bool = True) -> None:
    key = OrderKey(adapter.marketplace, adapter.account, pulled.external_id)
    problem = identity_problem(pulled.external_id)
    if problem or isinstance(pulled.error, OrderIdError):
        reason = f"{adapter.marketplace} record {pulled.external_id[:40] or '(no id)'}: " \
                 f"{pulled.error.message if isinstance(pulled.error, OrderIdError) else problem}"
        quarantine(session, key, pulled.raw, reason)
        counts.quarantined.append(reason)
        return
    if pulled.order is None:
        keep_unparsed(session, key, pulled.raw, str(pulled.error))
        counts.unparsed.append(f"{pulled.external_id}: {pulled.error}")
        return
    result = upsert_pulled(session, pulled.order, pulled.raw, guarded=guarded)
    setattr(counts, result.outcome.value, getattr(counts, result.outcome.value) + 1)
    if result.event and result.event.outcome.anomaly:
        counts.anomalies += 1
    if (result.outcome is not Upsert.UNCHANGED and pulled.order.status is Status.UNKNOWN
            and result.event and result.event.outcome is Outcome.UNMAPPED):
        counts.unmapped.append(f"{pulled.external_id}: {pulled.order.marketplace_status.code}")


def _store_isolated(session: Session, adapter: MarketplaceAdapter, pulled: PulledOrder,
                    counts: PullSummary) -> None:
    try:
        with session.begin_nested():
            _store_one(session, adapter, pulled, counts)
    except Exception as exc:
        if not _record_failure(exc):
            raise
        reason = f"{adapter.marketplace} order {pulled.external_id[:40] or '(no id)'}: the store refused it: " \
                 f"{describe(exc)}"
        quarantine(session, OrderKey(adapter.marketplace, adapter.account, pulled.external_id), pulled.raw, reason)
        counts.quarantined.append(reason)


def _record_failure(exc: BaseException) -> bool:
    """An error that one record's values caused (the rest of the page can still be written), as opposed to the
    store being unreachable or locked, or a concurrent writer, which fail the page as a whole."""
    if isinstance(exc, ConcurrentUpdate):
        return False
    if isinstance(exc, (PayloadError, ValueError, TypeError, ArithmeticError, sa.exc.DataError,
                        sa.exc.IntegrityError)):
        return True
    # a value that failed on its way to the driver (a bind processor), not a database that failed
    return isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError)
