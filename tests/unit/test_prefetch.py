"""The pull's read-ahead (connector/sync/pull.py: prefetched): pages in order, the adapter in one thread only,
its error after the pages read before it, a stop or a break ending the reader."""

from __future__ import annotations

import threading

import pytest

from adapters.base import Page
from connector.sync.pull import prefetched


def scan(threads: list[int], closed: threading.Event, n: int = 5, fail_at: int | None = None):
    def pages():
        try:
            for i in range(n):
                threads.append(threading.get_ident())
                if i == fail_at:
                    raise RuntimeError("the remote broke")
                yield Page([], cursor=str(i) if i == n - 1 else None)
        finally:
            closed.set()
    return pages


def test_pages_come_in_order_from_one_other_thread_and_the_scan_is_closed():
    threads, closed = [], threading.Event()
    with prefetched(scan(threads, closed)) as pages:
        got = [p.cursor for p in pages]
    assert got == [None, None, None, None, "4"]  # the cursor with the last page only, as the scan gave it
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident() and closed.is_set()


def test_an_error_comes_after_the_pages_read_before_it():
    threads, closed, got = [], threading.Event(), []
    with pytest.raises(RuntimeError, match="broke"), prefetched(scan(threads, closed, fail_at=3)) as pages:
        for page in pages:
            got.append(page)
    assert len(got) == 3 and closed.is_set()


def test_a_break_or_a_stop_ends_the_reader_within_the_queue_bound():
    threads, closed = [], threading.Event()
    with prefetched(scan(threads, closed, n=1000), depth=1) as pages:
        next(pages)
    assert closed.is_set() and len(threads) <= 4  # one stored, one queued, one in hand at most
    stop, threads, closed = threading.Event(), [], threading.Event()
    stop.set()
    with prefetched(scan(threads, closed, n=1000), stop=stop) as pages:
        assert len(list(pages)) == 1  # the page in hand when the stop came, and nothing more asked for
    assert closed.is_set()
