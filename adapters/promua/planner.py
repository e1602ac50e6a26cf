"""Seller command → the next request to send to Prom, from the order as Prom holds it right now. Pure.

Prom has two writes: ``set_status`` (received, delivered, canceled with a reason) and ``save_declaration_id`` (the
TTN, which does not change the status). The adapter re-reads the order before every step and asks again, so a
retried command never repeats a step that already happened:

- accept: status ``received``;
- ship: the TTN first (``save_declaration_id`` for the order's delivery provider), then ``received`` if the order
  is not there yet (Prom has no shipped status; the carrier's tracking follows the TTN);
- complete: ``delivered`` ("Виконано"; Prom never sets it by itself);
- cancel: ``canceled`` with Prom's ``cancellation_reason`` for the canonical reason (mappings/promua.yaml,
  ``splits.canceled``), else ``another``; with ``cancellation_text`` where Prom requires one.

A custom status (``custom-<id>``) means the seller has the order in hand in the cabinet: accept and ship leave it
as it is (ship still attaches the TTN), so the connector never moves an order back to ``received``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.promua.mapper import CARRIERS, CUSTOM
from connector.domain import Command, Status
from connector.domain.commands import Cancel, Ship
from connector.domain.lifecycle import rank
from connector.errors import CommandInvalid, ConflictError, PermanentError
from mappings import Vocabulary

RECEIVED, DELIVERED, CANCELED = "received", "delivered", "canceled"

# cancellation_reason values in both the classic list [OFF EVO php] and the newer one [3P PHPCLI], plus the classic
# ones that need a text. Only these are ever sent.
REASONS = frozenset({"not_available", "price_changed", "buyers_request", "not_enough_fields", "duplicate",
                     "invalid_phone_number", "less_than_minimal_price", "another"})
NEEDS_TEXT = frozenset({"price_changed", "not_enough_fields", "another"})  # [OFF EVO php docblock]
ANOTHER = "another"

# Words for cancellation_text when the seller gave none and Prom needs some.
DEFAULT_TEXT = {
    "buyer_request": "Скасовано на прохання покупця",
    "buyer_unreachable": "Не вдалося зв'язатися з покупцем",
    "out_of_stock": "Немає в наявності",
    "price_changed": "Змінилась ціна товару",
    "payment_failed": "Оплата не надійшла",
    "delivery_terms": "Покупця не влаштовують умови доставки",
    "duplicate": "Дубль замовлення",
    "fraud": "Фейкове замовлення",
    "test_order": "Тестове замовлення",
    "other": "Скасовано продавцем",
}

# Our carrier code → Prom's delivery_type, for an order whose delivery names no provider.
DELIVERY_TYPES = {ours: theirs for theirs, ours in CARRIERS.items()}
# delivery_type values some client sends (reference §4.2); an order's own provider outside these is not guessed at.
KNOWN_DELIVERY_TYPES = frozenset({"nova_poshta", "ukrposhta", "meest", "justin"})


@dataclass(frozen=True, slots=True)
class Remote:
    """The order as Prom holds it right now."""

    status: str
    declaration: str
    provider: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Remote:
        data = payload.get("delivery_provider_data") or {}
        data = data if isinstance(data, dict) else {}
        return cls(str(payload.get("status") or "").strip(),
                   "".join(str(data.get("declaration_number") or "").split()),
                   str(data.get("provider") or "").strip())


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # "status" or "declaration"
    status: str = ""
    reason: str = ""
    text: str = ""
    ttn: str = ""
    delivery_type: str = ""

    def body(self) -> dict[str, Any]:
        """set_status's body without ``ids`` (the client adds them)."""
        body: dict[str, Any] = {"status": self.status}
        if self.reason:
            body["cancellation_reason"] = self.reason
        if self.text:
            body["cancellation_text"] = self.text
        return body

    def describe(self) -> str:
        if self.kind == "declaration":
            return f"TTN {self.ttn} ({self.delivery_type})"
        return f"status {self.status}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True, slots=True)
class Goal:
    command: Command
    status: str  # the Prom status the command ends at
    ttn: str = ""
    carrier: str = ""
    reason: str = ""
    text: str = ""


def goal_for(command: Command, vocabulary: Vocabulary) -> Goal:
    """Translate a canonical command with the ``push`` table of mappings/promua.yaml; refuse what Prom lacks."""
    push = vocabulary.push
    kind = str(command.kind)
    if isinstance(command, Cancel):
        target = push.get("cancel_reasons", {}).get(str(command.reason))
        if target is None:
            raise CommandInvalid(f"Prom has no cancellation for reason {command.reason}",
                                 hint="use one of: " + ", ".join(push.get("cancel_reasons", {})))
        reason = prom_reason(vocabulary, str(command.reason))
        text = command.comment or (DEFAULT_TEXT.get(str(command.reason), "") if reason in NEEDS_TEXT else "")
        return Goal(command, target, reason=reason, text=text)
    target = push.get("commands", {}).get(kind)
    if target is None:
        raise CommandInvalid(f"Prom has no way to {kind} an order through its API",
                             hint=push.get("refused", {}).get(kind, "do it in the Prom cabinet"))
    if isinstance(command, Ship):
        return Goal(command, target, ttn=command.ttn, carrier=command.carrier)
    return Goal(command, target)


def prom_reason(vocabulary: Vocabulary, reason: str) -> str:
    """Prom's cancellation_reason for a canonical reason: the first Prom code among the words of the
    ``splits.canceled`` alternatives that mean it; ``another`` when none does."""
    for word, rule in vocabulary.splits.get(CANCELED, ()):
        if rule.cancel_reason is not None and str(rule.cancel_reason) == reason and word in REASONS:
            return word
    return ANOTHER


def delivery_type(goal: Goal, remote: Remote) -> str:
    """The provider the TTN is attached for: the order's own delivery provider, else the command's carrier."""
    if remote.provider:
        if remote.provider not in KNOWN_DELIVERY_TYPES:
            raise CommandInvalid(f"Prom's delivery for this order is {remote.provider!r}, which takes no TTN "
                                 "through the API as far as is known",
                                 hint="attach the TTN in the Prom cabinet")
        if goal.carrier and DELIVERY_TYPES.get(goal.carrier, goal.carrier) != remote.provider and \
                goal.carrier in DELIVERY_TYPES:
            raise CommandInvalid(f"the order's delivery on Prom is {remote.provider}, not {goal.carrier}",
                                 hint="ship with the carrier the buyer chose, or change the delivery in the cabinet")
        return remote.provider
    if goal.carrier in DELIVERY_TYPES:
        return DELIVERY_TYPES[goal.carrier]
    raise CommandInvalid("Prom needs the TTN's delivery provider, and the order names none",
                         missing=("carrier",), hint="ship with --carrier novaposhta or --carrier ukrposhta")


def _here(remote: Remote, vocabulary: Vocabulary) -> Status:
    return vocabulary.rule(remote.status).status


def _status_reached(target: str, remote: Remote, vocabulary: Vocabulary) -> bool:
    if remote.status == target:
        return True
    here, there = _here(remote, vocabulary), vocabulary.rule(target).status
    if there is Status.CANCELLED:
        return here is Status.CANCELLED
    if remote.status.startswith(CUSTOM) and here is Status.UNKNOWN:
        return target == RECEIVED  # the seller has it in hand: accept and ship leave it there
    here_rank, there_rank = rank(here), rank(there)
    return here_rank is not None and there_rank is not None and here_rank >= there_rank


def next_step(goal: Goal, remote: Remote, vocabulary: Vocabulary) -> Step | None:
    """The one request to send now, or None when the goal is reached. Raises when it cannot be reached."""
    here = _here(remote, vocabulary)
    ttn_done = not goal.ttn or remote.declaration == goal.ttn
    if _status_reached(goal.status, remote, vocabulary) and ttn_done:
        return None
    if here is Status.CANCELLED or (here is Status.COMPLETED and goal.status == CANCELED):
        raise ConflictError(f"the order is {here} on Prom (status {remote.status}); {goal.command.kind} cannot "
                            "follow it", hint="the marketplace's state wins: the order is flagged for review")
    if not ttn_done:
        return Step("declaration", ttn=goal.ttn, delivery_type=delivery_type(goal, remote))
    return Step("status", status=goal.status, reason=goal.reason if goal.status == CANCELED else "",
                text=goal.text if goal.status == CANCELED else "")


def unapplied(step: Step, after: Remote, vocabulary: Vocabulary) -> PermanentError | None:
    """A write Prom answered with success but the read after it does not show; None when it applied.

    Prom confirms a write in its answer (processed_ids, status: success); a read that disagrees means the change
    was not kept, and sending it again would meet the same fate: the command fails once, with both sides' words."""
    if step.kind == "declaration" and after.declaration != step.ttn:
        return PermanentError(f"Prom confirmed TTN {step.ttn} but the order shows {after.declaration or 'no TTN'}",
                              hint="attach the TTN in the Prom cabinet and check the order's delivery")
    if step.kind == "status" and not _status_reached(step.status, after, vocabulary):
        return PermanentError(f"Prom listed the order in processed_ids for status {step.status} but it shows "
                              f"{after.status}", hint="check the order in the Prom cabinet")
    return None
