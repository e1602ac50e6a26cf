"""Seller command → the next history row to write on Chopni, following the seller manual. Pure.

The panel enforces no order at all (any status id is written, even backwards) and e-mails the buyer for every row,
so the rules live here: PROCESSING, then SHIPPED with the tracking number in the comment, then COMPLETE; "refunded"
with a comment saying refunded or exchanged; every step carries a comment for the history. A step is never planned
if the order's history already shows it, which is what makes a retried push send nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters import CARRIERS
from adapters.chopni.page import OrderPage
from connector.domain import Command
from connector.domain.commands import AddComment, Cancel, Exchange, Refund, Ship
from connector.errors import CommandInvalid, ConflictError

# The manual's sequence, by vendor status name (lower case). "dispatched" is MultiMerch's stock name for SHIPPED.
NEXT: dict[str, tuple[str, ...]] = {
    "pending": ("processing", "cancelled"),
    "processing": ("shipped", "cancelled"),
    "shipped": ("complete", "refunded"),
    "dispatched": ("complete", "refunded"),
    "complete": ("refunded",),
}
TERMINAL = frozenset({"refunded", "cancelled", "canceled", "failed"})

# The only status a walk passes through on its own: SHIPPED needs a tracking number that only `ship` carries.
WALKABLE = frozenset({"processing"})

# What the history says when the seller gave no words of their own.
DEFAULT_COMMENT = {"processing": "Your order is being prepared.", "complete": "Your order is complete. Thank you!"}


@dataclass(frozen=True, slots=True)
class Step:
    status: str  # vendor status name (lower case); "" for a comment alone
    comment: str

    def describe(self) -> str:
        return f"{self.status.upper() if self.status else 'comment'}: {self.comment}"


@dataclass(frozen=True, slots=True)
class Goal:
    command: Command
    status: str  # "" for a comment alone
    comment: str  # the words the final row carries, and by which the history shows it is done


def goal_for(command: Command, push: dict) -> Goal:
    kind = str(command.kind)
    if isinstance(command, AddComment):
        return Goal(command, "", command.text)
    target = push["cancel_reasons"].get(str(command.reason)) if isinstance(command, Cancel) else \
        push["commands"].get(kind)
    if target is None:
        raise CommandInvalid(f"Chopni has no way to {kind} an order",
                             hint=push.get("refused", {}).get(kind, "do it in the seller panel"))
    extra = getattr(command, "comment", "")
    if isinstance(command, Ship):
        words = f"Tracking: {_carrier(command.carrier)} {command.ttn}" if command.carrier else \
            f"Tracking: {command.ttn}"
    elif isinstance(command, (Refund, Exchange)):
        words = f"{'refunded' if isinstance(command, Refund) else 'exchanged'}: {command.note}"
    elif isinstance(command, Cancel):
        words = f"Cancelled: {str(command.reason).replace('_', ' ')}"
    else:
        words = extra or DEFAULT_COMMENT.get(target, "")
        extra = ""
    return Goal(command, target, f"{words}. {extra}".strip() if extra else words)


def _carrier(code: str) -> str:
    return CARRIERS[code].title if code in CARRIERS else code


def current(page: OrderPage, listed: str = "") -> str:
    """The vendor status now: the list's name when known, else the last history row's (the panel does not
    pre-select it in the form)."""
    return (listed or (page.history[-1].status if page.history else "pending")).casefold()


def done(goal: Goal, page: OrderPage) -> bool:
    """The history already holds the goal's row: same status (if any) and the same words."""
    wanted = goal.comment.strip()
    return any(h.comment.strip() == wanted and (not goal.status or h.status.casefold() == goal.status)
               for h in page.history)


def next_step(goal: Goal, page: OrderPage, listed: str = "") -> Step | None:
    if done(goal, page):
        return None
    if not goal.status:
        return Step("", goal.comment)
    here = current(page, listed)
    if here == goal.status:
        return None  # already there (with other words: the seller or an earlier push wrote it)
    if here in TERMINAL:
        raise ConflictError(f"the order is {here} on Chopni; {goal.command.kind} cannot follow it",
                            hint="the marketplace's state wins: the order is flagged for review")
    allowed = NEXT.get(here, ())
    if goal.status in allowed:
        return Step(goal.status, goal.comment)
    # Walk the manual's sequence forward: each intermediate row also tells the buyer what is happening.
    for step in allowed:
        if step in WALKABLE and goal.status in _reachable(step):
            return Step(step, DEFAULT_COMMENT[step])
    raise CommandInvalid(f"Chopni's manual does not allow {goal.status.upper()} after {here.upper()}",
                         hint="allowed next: " + (", ".join(s.upper() for s in allowed) or "nothing")
                         + "; SHIPPED needs the tracking number: ship the order first")


def _reachable(status: str) -> set[str]:
    seen, todo = set(), [status]
    while todo:
        for nxt in NEXT.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
