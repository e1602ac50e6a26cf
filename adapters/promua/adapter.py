"""The Prom.ua marketplace port: incremental pull by modification time with the ``last_id`` cursor, and pushes
planned step by step from a fresh read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from adapters.base import Page, PulledOrder, PushResult, latest_change, push_in_steps, scan_cursor
from adapters.promua import mapper, planner
from adapters.promua.client import PAGE_LIMIT, PromClient
from connector.domain import Command, utcnow
from connector.errors import PayloadError, PermanentError
from connector.logs import get_logger
from mappings import Vocabulary

log = get_logger(__name__)

# How far behind the last change seen each pull reads again, at least: the filter's timezone is not documented
# (reference §2.1, §6: practitioners keep hours of overlap), and the re-read costs only pages (an unchanged payload
# writes nothing).
MIN_LOOKBACK = timedelta(hours=2)
MAX_PAGES = 1000  # 100,000 orders changed in one window is a runaway, not a busy day
MAX_STEPS = 6  # the longest push is TTN, then status, plus re-reads after writes whose answer was lost


class PromAdapter:
    marketplace = "promua"

    def __init__(self, account: str, client: PromClient, vocabulary: Vocabulary, *,
                 lookback: timedelta = MIN_LOOKBACK, first_pull: timedelta = timedelta(days=30),
                 page_size: int = PAGE_LIMIT, settle: float = 3.0, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.account, self.client, self.vocabulary = account, client, vocabulary
        self.lookback, self.first_pull, self.page_size = lookback, first_pull, page_size
        # After a write whose answer was lost, wait this long before re-reading: a request that timed out on our
        # side may still be running on Prom's.
        self.settle, self.clock, self.sleep = settle, clock, sleep

    def close(self) -> None:
        self.client.close()

    # -- pull ---------------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Orders modified since ``cursor − lookback``, newest id first, page by page down the ``last_id`` cursor.

        The list runs by id, so an order that changes while the scan runs keeps its place, and a new order lands
        above the scan, not inside it (it is read by the next pull: the cursor never passes the scan's start).
        ``last_id`` is "ids no higher than" (inclusive), so each page asks below the lowest id seen. A page that
        brings no id below the last one stops the scan without a cursor, and so does a page cap: the window is
        read again next time. The cursor (the highest ``date_modified`` seen) comes only with the last page.
        """
        started = self.clock()
        mark = datetime.fromisoformat(cursor) if cursor else None
        since = (mark - self.lookback) if mark else started - self.first_pull
        params: dict[str, Any] = {"last_modified_from": mapper.to_filter(since), "limit": self.page_size}
        seen: set[str] = set()
        high = mark
        last_id: int | None = None
        for page_no in range(1, MAX_PAGES + 1):
            orders = self.client.list_orders(params | ({"last_id": last_id} if last_id is not None else {}))
            ids = [i for i in (_int(o.get("id")) for o in orders) if i is not None]
            fresh = [o for o in orders if str(o.get("id")) not in seen]
            if orders and (not fresh or (last_id is not None and ids and min(ids) > last_id)):
                yield Page([], notes=[f"page {page_no} brought no order below id {last_id}: the last_id cursor did "
                                      "not advance; scan stopped, cursor kept"])
                return
            pulled = [mapper.pulled(o, self.account, self.vocabulary) for o in fresh]
            seen.update(p.external_id for p in pulled)
            high = latest_change(pulled, high)
            if len(orders) < self.page_size:
                yield Page(pulled, cursor=scan_cursor(high, started, mark))
                return
            yield Page(pulled)
            if not ids:
                raise PayloadError("Prom's order list holds no numeric ids to page below", raw=str(orders)[:2000])
            last_id = min(ids) - 1
        raise PermanentError(f"Prom's change window holds more than {MAX_PAGES} pages of orders; the scan stopped and "
                             "the cursor was kept", hint="lower the account's lookback or pull a shorter window first")

    def fetch(self, external_id: str) -> PulledOrder:
        return mapper.pulled(self._read(external_id), self.account, self.vocabulary)

    def _read(self, external_id: str) -> dict[str, Any]:
        order = self.client.get_order(external_id)
        if "status" not in order:
            raise PayloadError(f"Prom order {external_id}: the order read has no status", raw=str(order)[:2000])
        return order

    # -- push ---------------------------------------------------------------------------------------------------

    def push(self, command: Command, external_id: str) -> PushResult:
        goal = planner.goal_for(command, self.vocabulary)
        order_id = _int(external_id)
        if order_id is None:
            raise PermanentError(f"Prom order ids are numbers, not {external_id!r}")
        # The protocol is the shared one (adapters/base.py); Prom's own: a step's line says when Prom already had
        # it, and the check after a write compares the step with the order read after it alone.
        return push_in_steps(
            command, external_id, title="Prom", log=log, ignored_event="prom step not kept", max_steps=MAX_STEPS,
            settle=self.settle, sleep=self.sleep,
            read=lambda: planner.Remote.from_payload(self._read(external_id)),
            next_step=lambda remote: planner.next_step(goal, remote, self.vocabulary),
            send=lambda step: step.describe() + (" (Prom already had it)" if self._send(order_id, step) == "already"
                                                 else ""),
            unapplied=lambda step, _before, after: planner.unapplied(step, after, self.vocabulary),
            status=lambda remote: remote.status,
            already_done=lambda remote: f"already done: the order is at status {remote.status}"
            + (f" with TTN {remote.declaration}" if remote.declaration else ""))

    def _send(self, order_id: int, step: planner.Step) -> str:
        if step.kind == "declaration":
            return self.client.save_declaration(order_id, step.ttn, step.delivery_type)
        self.client.set_status(order_id, step.body())
        return "set"


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
