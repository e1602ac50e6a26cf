"""What a seller can ask for. Each command is a typed value that refuses to exist without the data it needs.

A command is an intent about one order; the marketplace's planner turns it into requests later (the outbox).
Commands are stored as ``(kind, payload)`` so an ERP can write them as plain rows (docs/erp-contract.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar

from connector.domain.lifecycle import TRANSITIONS, CancelReason, Status
from connector.domain.limits import ttn_problem
from connector.errors import CommandInvalid


class CommandKind(StrEnum):
    ACCEPT = "accept"
    START_PROCESSING = "start_processing"
    SHIP = "ship"
    COMPLETE = "complete"
    CANCEL = "cancel"
    REFUND = "refund"
    EXCHANGE = "exchange"
    COMMENT = "comment"
    MESSAGE_BUYER = "message_buyer"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Command:
    kind: ClassVar[CommandKind]
    target: ClassVar[Status | None] = None  # the lifecycle status the command moves the order to
    required: ClassVar[dict[str, str]] = {}  # field → what to tell the user when it is missing

    def __post_init__(self) -> None:
        missing = tuple(name for name in self.required if not _text(getattr(self, name)))
        if missing:
            needs = "; ".join(f"{name}: {self.required[name]}" for name in missing)
            raise CommandInvalid(
                f"{self.kind} needs {', '.join(missing)}",
                missing=missing,
                hint=needs,
            )
        for f in fields(self):
            if isinstance(getattr(self, f.name), str):
                object.__setattr__(self, f.name, getattr(self, f.name).strip())

    def payload(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in asdict(self).items() if v not in ("", None)}

    def idempotency_key(self, order_ref: str) -> str:
        """The same intent about the same order gives the same key, so writing it twice queues it once."""
        body = json.dumps([order_ref, str(self.kind), self.payload()], sort_keys=True, ensure_ascii=False)
        return f"{self.kind}:{hashlib.sha256(body.encode()).hexdigest()[:32]}"

    def check_allowed_from(self, current: Status) -> None:
        """Refuse a status command whose target cannot be reached from ``current`` by any legal path."""
        if self.target is None or current is self.target or self.target in reachable_from(current):
            return
        raise CommandInvalid(
            f"cannot {self.kind} an order that is {current}: {self.target} is not reachable from {current}",
            hint="check the order's current status with `connector order show REF`",
        )


@dataclass(frozen=True, slots=True)
class Accept(Command):
    kind = CommandKind.ACCEPT
    target = Status.ACCEPTED
    comment: str = ""


@dataclass(frozen=True, slots=True)
class StartProcessing(Command):
    kind = CommandKind.START_PROCESSING
    target = Status.PROCESSING
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Ship(Command):
    kind = CommandKind.SHIP
    target = Status.SHIPPED
    required = {"ttn": "the carrier's tracking number (TTN), e.g. --ttn 20450000000000"}
    ttn: str = ""
    carrier: str = ""  # "" until routed: the seller's word, else the number's format (connector/sync/intake.py)
    comment: str = ""

    def __post_init__(self) -> None:
        Command.__post_init__(self)
        # Sellers paste TTNs with spaces ("2045 0000 0000 00"); the carrier's own format is checked where the
        # carrier is known (connector/sync/commands.py).
        object.__setattr__(self, "ttn", "".join(self.ttn.split()))
        problem = ttn_problem(self.ttn)
        if problem:
            raise CommandInvalid(f"ship: {problem}", missing=("ttn",), hint=self.required["ttn"])


@dataclass(frozen=True, slots=True)
class Complete(Command):
    kind = CommandKind.COMPLETE
    target = Status.COMPLETED
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Cancel(Command):
    kind = CommandKind.CANCEL
    target = Status.CANCELLED
    required = {"reason": "one of " + ", ".join(r.value for r in CancelReason)}
    reason: CancelReason | str = ""
    comment: str = ""
    duplicate_of: str = ""  # with reason duplicate: the marketplace's id of the order this one repeats

    def __post_init__(self) -> None:
        Command.__post_init__(self)
        try:
            object.__setattr__(self, "reason", CancelReason(self.reason))
        except ValueError:
            raise CommandInvalid(
                f"cancel reason {self.reason!r} is not known",
                missing=("reason",),
                hint=self.required["reason"],
            ) from None


@dataclass(frozen=True, slots=True)
class Refund(Command):
    kind = CommandKind.REFUND
    target = Status.REFUNDED
    required = {"note": "what was refunded and how, e.g. --note 'refunded 640 UAH to card'"}
    note: str = ""


@dataclass(frozen=True, slots=True)
class Exchange(Command):
    kind = CommandKind.EXCHANGE
    target = Status.EXCHANGED
    required = {"note": "what the goods were exchanged for, e.g. --note 'exchanged for size M'"}
    note: str = ""


@dataclass(frozen=True, slots=True)
class AddComment(Command):
    kind = CommandKind.COMMENT
    required = {"text": "the comment text"}
    text: str = ""


@dataclass(frozen=True, slots=True)
class MessageBuyer(Command):
    kind = CommandKind.MESSAGE_BUYER
    required = {"text": "the message to the buyer"}
    text: str = ""


COMMANDS: dict[CommandKind, type[Command]] = {
    cls.kind: cls
    for cls in (Accept, StartProcessing, Ship, Complete, Cancel, Refund, Exchange, AddComment, MessageBuyer)
}


def build_command(kind: str, payload: dict[str, Any] | None = None) -> Command:
    """Make a command from its stored or typed form; unknown kinds and fields are refused by name."""
    try:
        cls = COMMANDS[CommandKind(kind)]
    except ValueError:
        raise CommandInvalid(
            f"unknown command {kind!r}", hint="one of " + ", ".join(k.value for k in CommandKind)
        ) from None
    payload = dict(payload or {})
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise CommandInvalid(
            f"{kind} does not take {', '.join(unknown)}", hint="it takes " + (", ".join(sorted(allowed)) or "nothing")
        )
    return cls(**payload)


@cache
def reachable_from(status: Status) -> frozenset[Status]:
    seen: set[Status] = set()
    todo = [status]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)
