"""The Chopni marketplace port: a scan of the orders table with change detection, and pushes by the manual.

The orders table has no change filter. Routine scans list pages newest first and stop once they are past every order
still in play (not finished, or finished recently: a COMPLETE order can still be refunded for 14 days); an order page
is opened only for an order that is new or whose row changed. A full sweep, on a slower schedule, lists everything
and also re-opens the orders in play, because a comment alone (a tracking number typed later) changes no row.
What the last scan saw lives in the cursor, stored with the scan's last page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from adapters.base import Page, PulledOrder, PushResult
from adapters.chopni import mapper, planner
from adapters.chopni.client import ChopniClient
from adapters.chopni.page import parse_conversation, parse_order_page
from connector.domain import Command, RawPayload, utcnow
from connector.domain.commands import MessageBuyer
from connector.domain.personal import contact_data
from connector.errors import CommandInvalid, OrderIdError, PayloadError, PermanentError, TransientError
from connector.logs import get_logger
from mappings import Vocabulary

log = get_logger(__name__)

MAX_STEPS = 8  # the longest walk is pending → processing → shipped, plus re-reads after writes whose answer was lost


class ChopniAdapter:
    marketplace = "chopni"

    def __init__(self, account: str, client: ChopniClient, vocabulary: Vocabulary, *, page_size: int = 50,
                 recent: timedelta = timedelta(days=30), full_sweep: timedelta = timedelta(hours=6),
                 settle: float = 3.0, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.account, self.client, self.vocabulary = account, client, vocabulary
        self.page_size, self.recent, self.full_sweep = page_size, recent, full_sweep
        self.settle, self.clock, self.sleep = settle, clock, sleep

    def close(self) -> None:
        self.client.close()

    # -- pull ---------------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[Page]:
        state = json.loads(cursor) if cursor else {}
        seen: dict[str, dict[str, Any]] = state.get("seen", {})
        now = self.clock()
        swept = datetime.fromisoformat(state["swept_at"]) if state.get("swept_at") else None
        full = swept is None or now - swept >= self.full_sweep
        floor = min((int(k) for k, v in seen.items() if v.get("open")), default=None)
        kept: dict[str, dict[str, Any]] = {}
        start = 0
        while True:
            data = self.client.list_orders(start, self.page_size)
            rows, pulled = _usable_rows(data["aaData"])
            for row in rows:
                order_id = str(row["order_id"]).strip()
                if not full and floor is not None and int(order_id) < floor:
                    continue  # older than everything in play: finished before the last scan (ids only grow)
                signature = "|".join(str(row.get(k, "")) for k in ("suborder_status", "order_status_id",
                                                                   "date_modified"))
                before = seen.get(order_id)
                in_play = self._in_play(row, now)
                if before is None or before["sig"] != signature or (full and in_play):
                    pulled.append(self._open(row))
                kept[order_id] = {"sig": signature, "open": in_play}
            last = not rows or len(rows) < self.page_size
            # Routine scans stop below the oldest order still in play; the first scan and sweeps read it all.
            past_floor = not full and floor is not None and rows and min(int(r["order_id"]) for r in rows) < floor
            if last or past_floor:
                if not full:  # what this scan did not reach stays as the last scan saw it
                    kept = {k: v for k, v in seen.items() if k not in kept} | kept
                yield Page(pulled, cursor=json.dumps({"seen": _trim(kept), "swept_at": now.isoformat() if full
                                                      else state.get("swept_at")}, sort_keys=True))
                return
            yield Page(pulled)
            start += self.page_size

    def _in_play(self, row: dict[str, Any], now: datetime) -> bool:
        """Not finished, or finished recently enough to change again (a return, a refund)."""
        rule = self.vocabulary.rule(str(row.get("suborder_status", "")).casefold())
        created = mapper.panel_time(row.get("date_added")) or mapper.panel_time(row.get("date_created"))
        finished = rule.status.value in ("completed", "cancelled", "refunded", "exchanged")
        return not finished or created is None or now - created <= self.recent

    def _open(self, row: dict[str, Any]) -> PulledOrder:
        order_id = str(row["order_id"]).strip()
        try:
            page = self.client.order_page(order_id)
        except PermanentError as exc:  # gone or not ours: keep what the list said, flagged
            return PulledOrder(order_id, RawPayload(json.dumps({"list_row": row}, ensure_ascii=False)), None,
                               PayloadError(f"Chopni order {order_id}: {exc.message}"))
        return mapper.pulled(row, page, self.account, self.vocabulary, self.clock())

    def fetch(self, external_id: str) -> PulledOrder:
        row = {"order_id": external_id}
        return mapper.pulled(row, self.client.order_page(external_id), self.account, self.vocabulary, self.clock())

    # -- push ---------------------------------------------------------------------------------------------------

    def push(self, command: Command, external_id: str) -> PushResult:
        if isinstance(command, MessageBuyer):
            return self._message(command, external_id)
        goal = planner.goal_for(command, self.vocabulary.push)
        sent: list[str] = []
        last: planner.Step | None = None  # the step written last
        uncertain: TransientError | None = None  # some write of this push lost its answer
        unconfirmed: planner.Step | None = None  # the write whose answer was just lost, not yet looked for
        for _ in range(MAX_STEPS):
            page = parse_order_page(self.client.order_page(external_id), external_id)  # re-read before every step
            step = planner.next_step(goal, page)
            if unconfirmed is not None and step != unconfirmed:
                sent.append(f"{unconfirmed.describe()} (its answer was lost; the history shows it)")
            looked_again, unconfirmed = unconfirmed is not None, None
            if step is None:
                skipped = [] if sent else ["already done: the order's history shows it"]
                return PushResult(sent, skipped, planner.current(page))
            if step == last and not looked_again:
                raise PermanentError(f"Chopni did not record {step.describe()} on order {external_id}",
                                     hint="the panel answers the same whether it writes a change or ignores it; "
                                          "check the order in the seller panel")
            # A comment alone still names the current status: the stock panel, given none, writes the marketplace
            # order's status id into the suborder (docs/adapters.md, Chopni).
            status = step.status or planner.current(page)
            status_id = page.status_id(status)
            if status_id is None:
                raise PermanentError(
                    f"this Chopni panel has no status named {status.upper()}"
                    + ("" if step.status else ", the order's current one, so a comment cannot keep it"),
                    hint="its statuses: " + ", ".join(page.status_ids))
            last = step
            try:
                self.client.add_history(page.suborder_id, status_id, step.comment)
            except TransientError as exc:
                # The answer was lost, not necessarily the row (and its e-mail to the buyer): look before sending
                # again. A request that timed out here may still be running there, so let it land first.
                uncertain, unconfirmed = exc, step
                log.warning("chopni step unconfirmed; re-reading", order=external_id, step=step.describe())
                self.sleep(self.settle)
                continue
            log.info("chopni step sent", order=external_id, step=step.describe(), command=str(command.kind))
            sent.append(step.describe())
        if uncertain is not None:
            raise uncertain
        raise PermanentError(f"Chopni order {external_id} did not reach the goal of {command.kind} in "
                             f"{MAX_STEPS} steps")

    def _message(self, command: MessageBuyer, external_id: str) -> PushResult:
        found = contact_data(command.text)
        if found:
            raise CommandInvalid("Chopni's community rules forbid sharing contact data with buyers; the message "
                                 "contains " + ", ".join(repr(f) for f in found),
                                 hint="remove phone numbers, e-mail addresses and links, then send it again")
        failures = 0
        while True:
            page = parse_order_page(self.client.order_page(external_id), external_id)
            fragment = self.client.conversation(external_id, self.client.seller_id())
            conversation = parse_conversation(fragment)
            if conversation is None:
                raise PermanentError("messaging is off for this Chopni order", hint="contact the buyer another way")
            if command.text.strip() in conversation.seller_messages:
                return PushResult([], ["already sent: the conversation holds this message"], "")
            try:
                self.client.send_message(external_id, page.suborder_id, conversation.seller_id, command.text)
            except TransientError:
                failures += 1
                if failures == 3:
                    raise
                self.sleep(self.settle)
                continue
            return PushResult(["message to the buyer"], [], "")


def _usable_rows(rows: list[Any]) -> tuple[list[dict[str, Any]], list[PulledOrder]]:
    """The list's rows with a numeric order id (ids only grow: the scan's floor depends on it), and every other
    row as a record for the quarantine, so nothing the list showed goes unseen."""
    usable, refused = [], []
    for row in rows:
        order_id = str(row.get("order_id", "")).strip() if isinstance(row, dict) else ""
        if order_id.isdigit() and order_id.isascii():
            usable.append(row)
            continue
        raw = RawPayload(json.dumps({"list_row": row}, ensure_ascii=False, default=str))
        refused.append(PulledOrder(order_id, raw, None, OrderIdError(
            f"the orders list has a row whose order id {order_id!r} is not a number" if order_id else
            "the orders list has a row without an order id")))
    return usable, refused


def _trim(seen: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Keep what the next routine scan can meet: every order from the oldest one still in play upwards (finished
    ones among them too, or they would look new and be opened again); below that, nothing."""
    open_ids = [int(k) for k, v in seen.items() if v["open"]]
    floor = min(open_ids) if open_ids else max((int(k) for k in seen), default=0)
    return {k: v for k, v in seen.items() if int(k) >= floor}
