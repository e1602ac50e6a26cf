"""Pull one account: every page the adapter yields is stored in one transaction with its cursor (the pages read
while the last ones were stored go together in one: see ``prefetched``), never a page in part.

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
    last_good_pull,
    pause,
    paused_accounts,
    reclaim_dead_local_leases,
    record_run,
    release,
)
from connector.store.cursors import read_cursor, write_cursor
from connector.store.orders import (
    ConcurrentUpdate,
    Upsert,
    UpsertResult,
    keep_unparsed,
    quarantine,
    upsert_pulled,
)
from connector.store.pages import upsert_page
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
                 on_page: Callable[[PullSummary], None] | None = None,
                 fresh_for: timedelta | None = None) -> PullSummary:
    """Pull one account under its lease. Raises what the adapter raises, after recording it on the account (an
    auth failure also pauses the account); a paused or leased-elsewhere account is skipped and says why, and so is
    one whose last good pull (another daemon's) started less than ``fresh_for`` ago: several daemons over one store
    share the accounts' pulls instead of each pulling every account.

    A good pull is recorded as of its start, the moment the store's copy is as new as: a daemon's next scheduled pull
    comes an interval after its last one started, however long that one took, so it is never taken for fresh."""
    summary = PullSummary(adapter.account)
    account, owner = adapter.account, owner or owner_id()
    started = utcnow()
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
            # Read after the lease is ours: a pull that ended a moment ago has committed its end by now.
            last = last_good_pull(session, account)
            if fresh_for is not None and last is not None and last > started - fresh_for:
                release(session, account, owner)
                summary.skipped = f"pulled {(started - last).total_seconds():.0f}s ago"
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
                    record_run(session, account, ok=True, now=started)
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
    with prefetched(lambda: adapter.pull(summary.cursor), stop) as batches:
        for pages in batches:
            if lost.is_set():
                raise LeaseLost(f"the lease on {adapter.account} was taken over while its page was read",
                                hint="the other daemon continues the pull; nothing of this page was written")
            _store_pages(store, adapter, pages, summary, owner, lease)
            if on_page is not None:
                on_page(summary)
            for page in pages:
                summary.notes += page.notes
                for note in page.notes:
                    log.warning("pull note", note=note)
            if stop is not None and stop.is_set():
                summary.notes.append("stopped between pages: shutting down; the next run reads on")
                break


_DONE = object()  # the adapter's scan ended
PREFETCH = 8  # pages read ahead of the store, at most
BATCH_ORDERS = 200  # pages that are ready together are stored in one transaction, up to about this many orders


@contextmanager
def prefetched(scan: Callable[[], Iterator[Page]], stop: threading.Event | None = None, depth: int = PREFETCH,
               batch_orders: int = BATCH_ORDERS) -> Iterator[Iterator[list[Page]]]:
    """The pages of ``scan()``, read ahead in a thread of their own while the caller stores the ones in hand.

    They come in batches: every page already read when the caller asks, in order, up to ``batch_orders`` orders
    (always at least one page). A store slower than the wire so writes several small pages (Rozetka's are 20 orders)
    in one transaction, and pays a transaction's fixed cost (lease, lookup, feed numbering, commit) once for them;
    a store that keeps up gets one page at a time, as soon as it is read.

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

    def batches() -> Iterator[list[Page]]:
        held = None  # what ended the last batch early: the scan's end or its error, handed over next
        while True:
            item, held = (held if held is not None else queue.get()), None
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            batch, size = [item], len(item.orders)
            while size < batch_orders:
                try:
                    item = queue.get_nowait()
                except Empty:
                    break
                if not isinstance(item, Page):
                    held = item
                    break
                batch.append(item)
                size += len(item.orders)
            yield batch

    thread = threading.Thread(target=context.run, args=(read,), name="pull-prefetch", daemon=True)
    thread.start()
    try:
        yield batches()
    finally:
        cancel.set()
        while thread.is_alive():
            with suppress(Empty):
                queue.get(timeout=0.1)  # make room: the reader may be waiting to put
        thread.join()


def _store_pages(store: Store, adapter: MarketplaceAdapter, pages: list[Page], summary: PullSummary, owner: str,
                 lease: timedelta) -> None:
    # Fast path: the pages in one transaction. Only if a record fails are they written again with each record in a
    # savepoint of its own, so a bad one is set aside without costing every page a round trip more.
    records = [pulled for page in pages for pulled in page.orders]
    cursor = next((page.cursor for page in reversed(pages) if page.cursor), None)  # the newest; each is a mark
    isolate = False
    for attempt in range(1, PAGE_TRIES + 2):
        counts = PullSummary(adapter.account)
        try:
            with store.transaction() as session:
                if not acquire(session, adapter.account, owner, lease):  # renew; lost only if we overran it
                    raise LeaseLost(f"the lease on {adapter.account} ran out and another daemon took it",
                                    hint="the other daemon continues the pull; nothing of this page was written")
                if isolate:
                    for pulled in records:
                        _store_isolated(session, adapter, pulled, counts)
                else:  # a race lost to another writer fails the pages, which are then written again, isolated
                    _store_together(session, adapter, records, counts)
                if cursor:
                    write_cursor(session, adapter.account, STREAM, cursor)
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
    summary.pages += len(pages)
    summary.created += counts.created
    summary.updated += counts.updated
    summary.unchanged += counts.unchanged
    summary.anomalies += counts.anomalies
    summary.unparsed += counts.unparsed
    summary.quarantined += counts.quarantined
    summary.unmapped += counts.unmapped
    if cursor:
        summary.cursor = cursor
    for problem in counts.unparsed + counts.quarantined + counts.unmapped:
        log.warning("order needs attention", problem=problem)


def _store_together(session: Session, adapter: MarketplaceAdapter, records: list[PulledOrder],
                    counts: PullSummary) -> None:
    """The fast path: the page's good orders in one bulk upsert; the records that cannot be orders are set aside
    first, one by one (they are rare), so that a placeholder they leave is merged into like any stored order."""
    good = [pulled for pulled in records if not _set_aside(session, adapter, pulled, counts)]
    for pulled, result in zip(good, upsert_page(session, [(p.order, p.raw) for p in good])):
        _count(counts, pulled, result)


def _store_one(session: Session, adapter: MarketplaceAdapter, pulled: PulledOrder, counts: PullSummary) -> None:
    if not _set_aside(session, adapter, pulled, counts):
        _count(counts, pulled, upsert_pulled(session, pulled.order, pulled.raw))


def _set_aside(session: Session, adapter: MarketplaceAdapter, pulled: PulledOrder, counts: PullSummary) -> bool:
    """A record with no usable id goes to the quarantine, one that does not parse is kept raw on a placeholder
    flagged for review; True when the record was one of those."""
    key = OrderKey(adapter.marketplace, adapter.account, pulled.external_id)
    problem = identity_problem(pulled.external_id)
    if problem or isinstance(pulled.error, OrderIdError):
        reason = f"{adapter.marketplace} record {pulled.external_id[:40] or '(no id)'}: " \
                 f"{pulled.error.message if isinstance(pulled.error, OrderIdError) else problem}"
        quarantine(session, key, pulled.raw, reason)
        counts.quarantined.append(reason)
        return True
    if pulled.order is None:
        keep_unparsed(session, key, pulled.raw, str(pulled.error))
        counts.unparsed.append(f"{pulled.external_id}: {pulled.error}")
        return True
    return False


def _count(counts: PullSummary, pulled: PulledOrder, result: UpsertResult) -> None:
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
