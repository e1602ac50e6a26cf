"""The pull's read-ahead (connector/sync/pull.py: prefetched): pages in order, the adapter in one thread only,
its error after the pages read before it, a stop or a break ending the reader."""

from __future__ import annotations

import threading

import pytest

from adapters.base import Page
from connector.sync.pull import prefetched


def scan(threads: list[int], closed: threading.Event, n: int = 5, fail_at: int | None = None, size: int = 0):
    def pages():
        try:
            for i in range(n):
                threads.append(threading.get_ident())
                if i == fail_at:
                    raise RuntimeError("the remote broke")
                yield Page([object()] * size, cursor=str(i) if i == n - 1 else None)
        finally:
            closed.set()
    return pages


def test_pages_come_in_order_from_one_other_thread_and_the_scan_is_closed():
    threads, closed = [], threading.Event()
    with prefetched(scan(threads, closed)) as batches:
        got = [p.cursor for pages in batches for p in pages]
    assert got == [None, None, None, None, "4"]  # the cursor with the last page only, as the scan gave it
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident() and closed.is_set()


def test_an_error_comes_after_the_pages_read_before_it():
    threads, closed, got = [], threading.Event(), []
    with pytest.raises(RuntimeError, match="broke"), prefetched(scan(threads, closed, fail_at=3)) as batches:
        for pages in batches:
            got += pages
    assert len(got) == 3 and closed.is_set()


def test_a_break_or_a_stop_ends_the_reader_within_the_queue_bound():
    threads, closed = [], threading.Event()
    with prefetched(scan(threads, closed, n=1000), depth=1) as batches:
        next(batches)
    assert closed.is_set() and len(threads) <= 4  # one stored, one queued, one in hand at most
    stop, threads, closed = threading.Event(), [], threading.Event()
    stop.set()
    with prefetched(scan(threads, closed, n=1000), stop=stop) as batches:
        assert sum(len(pages) for pages in batches) == 1  # the page in hand when the stop came, and nothing more
    assert closed.is_set()


def test_pages_read_while_the_store_was_busy_come_together_up_to_the_batch_size():
    threads, closed, sizes = [], threading.Event(), []
    with prefetched(scan(threads, closed, n=12, size=20), depth=8, batch_orders=60) as batches:
        first = next(batches)
        while len(threads) < 10:  # the store is busy with the first batch while the reader fills the queue
            threading.Event().wait(0.01)
        sizes = [len(first)] + [len(pages) for pages in batches]
    assert sum(sizes) == 12 and max(sizes) == 3  # 60 orders of 20-order pages
    assert sizes[1] == 3  # what was ready went together
