"""The Rozetka marketplace port: incremental pull by change time, and pushes planned step by step."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.base import Page, PulledOrder, PushResult, latest_change, push_in_steps, scan_cursor
from adapters.rozetka import mapper, planner
from adapters.rozetka.client import RozetkaClient
from connector.domain import Command, utcnow
from connector.domain.commands import MessageBuyer
from connector.errors import PayloadError, PermanentError, TransientError
from connector.logs import get_logger
from mappings import Vocabulary

log = get_logger(__name__)

# What a pull asks Rozetka to embed: lines, delivery (TTN), payment, the status object and what may follow it.
EXPAND = "user,delivery,delivery_service,purchases,payment,status_data,status_available,order_status_history"
MAX_PAGES = 2000  # the most pages one window is read to: a window that holds more is cut into shorter ones
SECOND = timedelta(seconds=1)  # the filters' resolution
MAX_STEPS = 8  # the longest walks are 1 → 26 → 61 and 61 → 26 → 61, plus re-reads after lost answers


class RozetkaAdapter:
    marketplace = "rozetka"

    def __init__(self, account: str, client: RozetkaClient, vocabulary: Vocabulary, *,
                 lookback: timedelta = timedelta(minutes=5), first_pull: timedelta = timedelta(days=30),
                 settle: float = 3.0, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep, max_pages: int | None = None) -> None:
        self.account = account
        self.client = client
        self.vocabulary = vocabulary
        self.lookback, self.first_pull, self.clock = lookback, first_pull, clock
        # After a write whose answer was lost, wait this long before re-reading: a request that timed out on our
        # side may still be running on Rozetka's.
        self.settle, self.sleep = settle, sleep
        self.max_pages = max_pages  # pages per window; None: MAX_PAGES

    def close(self) -> None:
        self.client.close()

    # -- pull ---------------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Orders changed since ``cursor − lookback``, by id ascending; a history too long for one scan in windows.

        Sorting by id keeps every order in its place while the scan runs: an order that changes mid-scan still
        matches the filter and does not move, and new orders append at the end, so nothing is skipped (a row may
        repeat across a page boundary; it is handed out once). The new cursor (the highest ``changed`` seen) is
        given only with the last page of a complete scan, so a scan cut short is simply read again.

        A scan holding more than ``max_pages`` pages (a first import of a large seller) is read in windows of change
        time instead (``changed_from`` … ``changed_to``, whole seconds, both inclusive): before each window one
        search sorted by ``changed`` finds where the window must end to hold fewer than ``max_pages`` pages; the
        last window is open-ended as above. Each closed window's last page carries a cursor (the window's end), so
        an import cut short resumes at the window it was in. An order that changes while a closed window is read
        leaves it for the open one; the rows behind it move back a place, which ``_meta.totalCount`` shows, and the
        pages they may have moved to are read again, so none is skipped.
        """
        started = self._started = self.clock()
        mark = datetime.fromisoformat(cursor) if cursor else None
        since = (mark - self.lookback) if mark else started - self.first_pull
        cap = self.max_pages or MAX_PAGES
        base = {"types": 1, "sort": "id", "expand": EXPAND}
        seen: set[str] = set()
        high = mark
        lo = since.replace(microsecond=0)
        hi: datetime | None = None  # the first window is open: the whole scan, as long as it fits the cap

        def first_page(hi: datetime | None) -> tuple[dict, list[dict], dict]:
            window = base | {"changed_from": mapper.to_kyiv(lo)}
            if hi is not None:
                window["changed_to"] = mapper.to_kyiv(hi - SECOND)
            return (window, *_orders_and_meta(self.client.search_orders(window | {"page": 1})))

        window, orders, meta = first_page(hi)
        while True:
            while int(meta.get("pageCount") or 1) > cap and (hi is None or hi - lo > SECOND):
                end = self._window_end(base, lo, cap)
                if hi is None and end is None:
                    break  # the probe says it fits after all: read it open (and fail loudly at the cap)
                if hi is not None and (end is None or end >= hi):
                    end = lo + max(SECOND, timedelta(seconds=int((hi - lo).total_seconds()) // 2))
                hi = end
                window, orders, meta = first_page(hi)
            in_window: set[str] = set()
            total = int(meta.get("totalCount") or 0)
            per_page = int(meta.get("perPage") or len(orders) or 20)
            page_no, top = 1, 0  # top: the furthest page read (a page read again is not a repeat)
            while True:
                if orders and page_no > top and all(str(o.get("id")) in in_window for o in orders):
                    yield Page([], notes=[f"page {page_no} repeated orders already read; scan stopped, "
                                          "cursor kept"])
                    return
                top = max(top, page_no)
                in_window.update(str(o.get("id")) for o in orders)
                pulled = [mapper.pulled(o, self.account, self.vocabulary) for o in orders
                          if str(o.get("id")) not in seen]
                seen.update(p.external_id for p in pulled)
                high = latest_change(pulled, high)
                last = not orders or page_no >= int(meta.get("pageCount") or 1)
                if not last and page_no >= cap:
                    yield Page(pulled)  # what was read is kept; the window was too big to finish, say so
                    raise PermanentError(
                        f"Rozetka's change window holds more than {cap} pages of orders in one second; the scan "
                        "stopped and the cursor was kept",
                        hint="resync those orders one by one, or raise the adapter's page cap; then the scan can "
                             "finish")
                if last and hi is None:
                    yield Page(pulled, cursor=scan_cursor(high, started, mark))
                    return
                if last:
                    # the window is done: its end is the new mark, unless the mark is already past it (lookback)
                    done = hi if mark is None or hi > mark else None
                    yield Page(pulled, cursor=done.astimezone(UTC).isoformat() if done else None)
                    break
                yield Page(pulled)
                page_no += 1
                orders, meta = _orders_and_meta(self.client.search_orders(window | {"page": page_no}))
                now_total = int(meta.get("totalCount") or 0)
                if hi is not None and now_total < total:
                    # orders left this closed window (they changed, and moved on to the open one): the rows behind
                    # them moved back, over a page boundary; read again from where they may now be
                    page_no = max(1, page_no - -(-(total - now_total) // per_page))
                    log.info("rozetka window shrank while read; reading back", left=total - now_total, page=page_no)
                    orders, meta = _orders_and_meta(self.client.search_orders(window | {"page": page_no}))
                    now_total = int(meta.get("totalCount") or 0)
                total = now_total
            lo = hi
            hi = self._window_end(base, lo, cap)  # None: the rest fits the cap, read it open
            window, orders, meta = first_page(hi)

    def _window_end(self, base: dict[str, Any], lo: datetime, cap: int) -> datetime | None:
        """Where a window from ``lo`` must end to hold fewer than ``cap`` pages: the ``changed`` of the first order
        on page ``cap`` when sorted by change time (every earlier change is on an earlier page). One second at
        least, however many orders changed in it. None: what changed since ``lo`` fits in ``cap`` pages."""
        probe = self.client.search_orders(base | {"sort": "changed", "changed_from": mapper.to_kyiv(lo),
                                                  "page": cap})
        orders, meta = _orders_and_meta(probe)
        if int(meta.get("pageCount") or 1) <= cap or not orders:
            return None
        try:
            end = mapper.from_kyiv(str(orders[0].get("changed") or ""), "changed")
        except PayloadError:
            end = lo + max(SECOND, (self.clock() - lo) / 2)  # no usable time on it: halve what is left
        log.info("rozetka scan too big for one window; reading it in windows", pages=meta.get("pageCount"),
                 cap=cap, until=end.isoformat())
        # never past the scan's start: what changes while the scan runs belongs to the open window
        return max(min(end, self._started).replace(microsecond=0), lo + SECOND)

    def fetch(self, external_id: str) -> PulledOrder:
        return mapper.pulled(self._read(external_id), self.account, self.vocabulary)

    def _read(self, external_id: str) -> dict[str, Any]:
        content = self.client.get_order(external_id, EXPAND)
        if not isinstance(content, dict) or "status" not in content:
            raise PayloadError(f"Rozetka order {external_id}: the order read has no status", raw=str(content)[:2000])
        return content

    # -- push ---------------------------------------------------------------------------------------------------

    def push(self, command: Command, external_id: str) -> PushResult:
        if isinstance(command, MessageBuyer):
            return self._message(command, external_id)
        goal = planner.goal_for(command, self.vocabulary.push)
        # The protocol is the shared one (adapters/base.py). Rozetka's own: it answers success to some writes it
        # then ignores, and the read after each write, with the order before it, says which (planner.unapplied).
        return push_in_steps(
            command, external_id, title="Rozetka", log=log, ignored_event="rozetka step ignored",
            max_steps=MAX_STEPS, settle=self.settle, sleep=self.sleep,
            read=lambda: planner.Remote.from_payload(self._read(external_id)),
            next_step=lambda remote: planner.next_step(goal, remote, self.vocabulary),
            send=lambda step: self._update(external_id, step),
            unapplied=planner.unapplied,
            status=lambda remote: str(remote.status),
            already_done=lambda remote: f"already done: the order is at status {remote.status}")

    def _update(self, external_id: str, step: planner.Step) -> str:
        self.client.update_order(external_id, step.body())
        return step.describe()

    def _message(self, command: MessageBuyer, external_id: str) -> PushResult:
        """Into the order's chat; sent only if the chat does not already hold the same text from the seller, which
        is also how a send whose answer was lost is told from one that never arrived."""
        failures = 0
        while True:
            chat = self._chat(external_id)
            if any(isinstance(m, dict) and m.get("body") == command.text and m.get("seller")
                   for m in chat["messages"]):
                return PushResult([], ["already sent: the chat holds this message"], "")
            try:
                self.client.create_message({
                    "body": command.text,
                    "chat_id": chat.get("id"),
                    "receiver_id": chat["user_id"],
                    "order_id": int(external_id) if str(external_id).isdigit() else external_id,
                    "sendEmailUser": 1,
                })
            except TransientError:
                failures += 1
                if failures == 3:
                    raise
                self.sleep(self.settle)  # a send that is slow on Rozetka's side may land yet: let it, then look
                continue
            return PushResult(["message to the buyer"], [], "")

    def _chat(self, external_id: str) -> dict[str, Any]:
        """The order's chat, with what a send needs: its messages (to tell a message already sent) and the buyer.

        Without the messages a send cannot be told from a repeat, so nothing is sent rather than maybe twice. The
        buyer is ``user_id``, the field the apiDoc defines as the buyer; ``user`` is another person in its own
        example, so it is never used as the receiver.
        """
        chat = self.client.order_chat(external_id)
        chat = chat if isinstance(chat, dict) else {}
        if not isinstance(chat.get("messages"), list):
            raise PermanentError(f"Rozetka order {external_id}: the order chat came without its messages, so a "
                                 "message already sent cannot be told from a new one; nothing was sent",
                                 hint="check the chat in the seller cabinet, then retry the command or send the "
                                      "message there")
        if not str(chat.get("user_id") or "").strip():
            raise PermanentError(f"Rozetka order {external_id}: the order chat names no buyer (user_id); nothing "
                                 "was sent", hint="send the message from the seller cabinet's chat")
        return chat


def _orders_and_meta(content: Any) -> tuple[list[dict], dict]:
    if not isinstance(content, dict) or not isinstance(content.get("orders"), list):
        raise PayloadError("Rozetka's order search answered without an orders list", raw=str(content)[:2000])
    return [o for o in content["orders"] if isinstance(o, dict)], content.get("_meta") or {}

