"""Seller command → the next ``PUT /orders/{id}`` step Rozetka accepts from the order's current remote status.

Pure: the adapter re-reads the order before every step and asks again, so a retried command never repeats a step
that already happened, and a step is only ever chosen from what Rozetka says is reachable now (``status_available``;
the static graph below only when the payload lacks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.domain import Command, Status
from connector.domain.commands import AddComment, Cancel, Ship
from connector.domain.lifecycle import rank
from connector.errors import CommandInvalid, ConflictError, PermanentError
from mappings import Vocabulary

NEW, MANAGER, PACKING, HANDOVER_PLANNED, HANDED_TO_CARRIER, ADMIN_CANCELLED, DUPLICATE = 1, 26, 2, 61, 3, 13, 49
INVALID_TTN = 15  # "Некоректний ТТН": Rozetka rejected the order's TTN

NEEDS_TTN = frozenset({HANDOVER_PLANNED, HANDED_TO_CARRIER})
NEVER_SEND = frozenset({ADMIN_CANCELLED})  # "Скасовано Адміністратором": only Rozetka's staff may set it

# When status_available is missing: the seller-help flow 1 → 26 → 2 → 61 and live observations (shared reference §4.1).
STATIC_GRAPH: dict[int, frozenset[int]] = {
    NEW: frozenset({MANAGER, 16, 17, 18, 20, 24, 28, 29, 33, 37, 38, 40, 42, 43, 49}),
    MANAGER: frozenset({55, 47, PACKING, HANDOVER_PLANNED, 42, 43, 28, 33, 40, 49, 20, 18, 29, 17, 37, 38}),
    47: frozenset({MANAGER, PACKING, 18, 40, 42}),
    55: frozenset({PACKING, 17, 40, 50}),
    PACKING: frozenset({HANDOVER_PLANNED, HANDED_TO_CARRIER, 18, 40, 42}),
    # A wrong TTN is corrected by going back to 26, which clears it, then to 61 with the new one: Rozetka refuses
    # 15 → 61 and ignores a new TTN sent to an order already at 61 (public evidence; docs/adapters.md, Rozetka).
    HANDOVER_PLANNED: frozenset({HANDED_TO_CARRIER, MANAGER}),
    INVALID_TTN: frozenset({MANAGER}),
    HANDED_TO_CARRIER: frozenset({6}),
}

# The only statuses a walk passes through on the way to its goal: the seller-help flow 26 → 2 → 61. A walk never
# wanders through call-backs or payment waits, and never sends a step it cannot finish.
WAYPOINTS = frozenset({MANAGER, PACKING, HANDOVER_PLANNED})


@dataclass(frozen=True, slots=True)
class Remote:
    """The order as Rozetka holds it right now."""

    status: int
    available: frozenset[int]
    ttn: str
    comments: tuple[str, ...]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Remote:
        status = int(payload["status"])
        children = payload.get("status_available")
        available = (frozenset(int(a["child_id"]) for a in children if "child_id" in a) if children is not None
                     else STATIC_GRAPH.get(status, frozenset()))
        comments = tuple(str(c.get("comment", "")) for c in payload.get("seller_comment") or [] if isinstance(c, dict))
        return cls(status, available, "".join(str(payload.get("ttn") or "").split()), comments)


@dataclass(frozen=True, slots=True)
class Step:
    status: int
    ttn: str | None = None
    seller_comment: str | None = None
    duplicate_order_id: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        for key in ("ttn", "seller_comment", "duplicate_order_id"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        return body

    def describe(self) -> str:
        return f"status {self.status}" + (f" with TTN {self.ttn}" if self.ttn else "") + (
            " with a comment" if self.seller_comment else "")


@dataclass(frozen=True, slots=True)
class Goal:
    """Where a command wants the order to be, in Rozetka's terms."""

    command: Command
    target: int | None  # None: not a status change (a comment)
    ttn: str | None = None
    comment: str | None = None
    duplicate_order_id: int | None = None


def goal_for(command: Command, push: dict[str, Any]) -> Goal:
    """Translate a canonical command with the ``push`` table of mappings/rozetka.yaml; refuse what Rozetka lacks."""
    kind = command.kind
    comment = getattr(command, "comment", "") or None
    if isinstance(command, AddComment):
        return Goal(command, None, comment=command.text)
    if isinstance(command, Cancel):
        target = push["cancel_reasons"].get(str(command.reason))
        target = int(target) if target is not None else None
        if target is None:
            raise CommandInvalid(f"Rozetka has no cancellation status for reason {command.reason}",
                                 hint="use one of: " + ", ".join(push["cancel_reasons"]))
        duplicate = None
        if target == DUPLICATE:
            if not command.duplicate_of.isdigit():
                raise CommandInvalid("Rozetka cancels a duplicate only with the id of the order it duplicates",
                                     missing=("duplicate_of",), hint="pass --duplicate-of ORDER_ID")
            duplicate = int(command.duplicate_of)
        return Goal(command, target, comment=comment, duplicate_order_id=duplicate)
    target = push["commands"].get(str(kind))
    if target is None:
        raise CommandInvalid(f"Rozetka has no way to {kind} an order through the Seller API",
                             hint=push.get("refused", {}).get(str(kind), "do it in the seller cabinet"))
    return Goal(command, int(target), ttn=command.ttn if isinstance(command, Ship) else None, comment=comment)


def _reached(goal: Goal, remote: Remote, vocabulary: Vocabulary) -> bool:
    if goal.target is None:
        return goal.comment in remote.comments
    if remote.status == goal.target:
        return goal.ttn is None or remote.ttn == goal.ttn
    here, there = vocabulary.rule(remote.status).status, vocabulary.rule(goal.target).status
    if there is Status.CANCELLED:
        return here is Status.CANCELLED
    here_rank, there_rank = rank(here), rank(there)
    past = here_rank is not None and there_rank is not None and here is not Status.UNKNOWN and here_rank >= there_rank
    return past and (goal.ttn is None or remote.ttn == goal.ttn)


def _route(remote: Remote, goal: Goal) -> list[int] | None:
    """The shortest walk to the goal: first hop from what Rozetka offers now, then the static graph, through
    waypoints only, skipping steps that need a TTN the command does not carry. None: no walk exists.

    The goal may be the status the order is in (61 with another TTN): the walk then leaves it and comes back."""
    frontier: list[tuple[int, list[int]]] = [(remote.status, [])]
    seen = {remote.status}
    while frontier:
        node, path = frontier.pop(0)
        for nxt in sorted(remote.available if not path else STATIC_GRAPH.get(node, frozenset())):
            if nxt in NEVER_SEND or (nxt in NEEDS_TTN and not goal.ttn):
                continue
            if nxt == goal.target:
                return path + [nxt]
            if nxt in seen:
                continue
            if nxt in WAYPOINTS:
                seen.add(nxt)
                frontier.append((nxt, path + [nxt]))
    return None


def unapplied(step: Step, before: Remote, after: Remote) -> PermanentError | None:
    """A write Rozetka answered with success but did not apply, as the read after it shows; None when it applied.

    Both cases are refusals Rozetka does not put into words, so the command fails once, with the reason, and is
    never sent again: sending it again would be ignored the same way.
    """
    if step.seller_comment and step.status == before.status and step.seller_comment not in after.comments:
        # A PUT of the current status is accepted and changes nothing (inferred from a public client's tests).
        return PermanentError("Rozetka keeps a seller comment only with a status change; the comment was accepted "
                              "but not stored", hint="add it as --comment to the next status command")
    if step.ttn and after.ttn != step.ttn:
        return PermanentError(f"Rozetka did not take TTN {step.ttn}: the order shows "
                              f"{after.ttn or 'no TTN'} at status {after.status}",
                              hint="Rozetka ignores a new TTN on an order already at 61; correct it in the seller "
                                   "cabinet")
    return None


def next_step(goal: Goal, remote: Remote, vocabulary: Vocabulary) -> Step | None:
    """The one request to send now, or None when the goal is reached. Raises when it cannot be reached."""
    if _reached(goal, remote, vocabulary):
        return None
    here = vocabulary.rule(remote.status)
    if goal.target is None:  # a comment rides on the current status
        return Step(remote.status, seller_comment=goal.comment)
    if here.status in (Status.CANCELLED, Status.REFUNDED, Status.EXCHANGED, Status.RETURNED):
        raise ConflictError(f"the order is {here.status} on Rozetka (status {remote.status} {here.label}); "
                            f"{goal.command.kind} cannot follow it",
                            hint="the marketplace's state wins: the order is flagged for review")
    if goal.target in NEVER_SEND:
        raise CommandInvalid(f"status {goal.target} can only be set by Rozetka's administrators")
    if goal.target in NEEDS_TTN and not goal.ttn:
        raise CommandInvalid(f"Rozetka requires a TTN for status {goal.target}", missing=("ttn",),
                             hint="ship the order with --ttn")
    route = _route(remote, goal)
    if route == [goal.target]:
        step = Step(goal.target, ttn=goal.ttn, seller_comment=goal.comment,
                    duplicate_order_id=goal.duplicate_order_id)
    elif route == [PACKING, HANDOVER_PLANNED] and goal.ttn:
        step = Step(PACKING, ttn=goal.ttn)  # a TTN sent with 2 moves the order to 61 by itself: one request saved
    elif route:
        step = Step(route[0])
    else:
        raise PermanentError(
            f"Rozetka does not allow status {goal.target} from {remote.status} ({here.label or here.status}); "
            f"allowed now: {', '.join(map(str, sorted(remote.available))) or 'none'}",
            hint="the order may have moved on in the cabinet; check it there")
    return step
