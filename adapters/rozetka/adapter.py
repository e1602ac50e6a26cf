"""The Rozetka marketplace port: incremental pull by change time, and pushes planned step by step."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
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
MAX_PAGES = 2000  # 40,000 orders changed in one window is a runaway, not a busy day
MAX_STEPS = 8  # the longest walks are 1 → 26 → 61 and 61 → 26 → 61, plus re-reads after lost answers


class RozetkaAdapter:
    marketplace = "rozetka"

    def __init__(self, account: str, client: RozetkaClient, vocabulary: Vocabulary, *,
                 lookback: timedelta = timedelta(minutes=5), first_pull: timedelta = timedelta(days=30),
                 settle: float = 3.0, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.account = account
        self.client = client
        self.vocabulary = vocabulary
        self.lookback, self.first_pull, self.clock = lookback, first_pull, clock
        # After a write whose answer was lost, wait this long before re-reading: a request that timed out on our
        # side may still be running on Rozetka's.
        self.settle, self.sleep = settle, sleep

    def close(self) -> None:
        self.client.close()

    # -- pull ---------------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Orders changed since ``cursor − lookback``, by id ascending.

        Sorting by id keeps every order in its place while the scan runs: an order that changes mid-scan still
        matches the filter and does not move, and new orders append at the end, so nothing is skipped (a row may
        repeat across a page boundary; the store dedupes). The new cursor (the highest ``changed`` seen) is given
        only with the last page of a complete scan, so a scan cut short is simply read again.
        """
        started = self.clock()
        mark = datetime.fromisoformat(cursor) if cursor else None
        since = (mark - self.lookback) if mark else started - self.first_pull
        params = {"types": 1, "sort": "id", "expand": EXPAND, "changed_from": mapper.to_kyiv(since)}
        seen: set[str] = set()
        high = mark
        page_no = 1
        while True:
            content = self.client.search_orders(params | {"page": page_no})
            orders, meta = _orders_and_meta(content)
            fresh = [o for o in orders if str(o.get("id")) not in seen]
            if orders and not fresh:
                yield Page([], notes=[f"page {page_no} repeated orders already read; scan stopped, cursor kept"])
                return
            pulled = [mapper.pulled(o, self.account, self.vocabulary) for o in fresh]
            seen.update(p.external_id for p in pulled)
            high = latest_change(pulled, high)
            last = not orders or page_no >= int(meta.get("pageCount") or 1)
            if not last and page_no >= MAX_PAGES:
                yield Page(pulled)  # what was read is kept; the window was too big to finish, say so
                raise PermanentError(f"Rozetka's change window holds more than {MAX_PAGES} pages of orders; the "
                                     "scan stopped and the cursor was kept",
                                     hint="pull a shorter window first: lower the account's lookback, or resync "
                                          "orders one by one; then the scan can finish")
            if last:
                yield Page(pulled, cursor=scan_cursor(high, started, mark))
                return
            yield Page(pulled)
            page_no += 1

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
