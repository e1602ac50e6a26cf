"""Chopni's push planner: the manual's sequence, tracking in the SHIPPED comment, nothing written twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.chopni.mapper import tracking
from adapters.chopni.page import HistoryRow, OrderPage
from adapters.chopni.planner import Step, goal_for, next_step
from connector.domain import build_command
from connector.errors import CommandInvalid, ConflictError
from mappings import load

PUSH = load("chopni").push
IDS = {"Pending": "4", "PROCESSING": "6", "SHIPPED": "39", "COMPLETE": "24", "refunded": "11", "Cancelled": "20"}


def page(*history: tuple[str, str]) -> OrderPage:
    return OrderPage("1", "9", "PROCESSED", "11/03/2024", "", "", [], {"total": Decimal("1")}, "EUR",
                     [HistoryRow("11/03/2024", comment, status) for status, comment in history], IDS)


def walk(kind: str, payload: dict, *history: tuple[str, str]) -> list[Step]:
    goal, steps, rows = goal_for(build_command(kind, payload), PUSH), [], list(history)
    for _ in range(5):
        step = next_step(goal, page(*rows))
        if step is None:
            return steps
        steps.append(step)
        rows.append((step.status.upper() if step.status else rows[-1][0] if rows else "Pending", step.comment))
    raise AssertionError(steps)


def test_ship_from_pending_starts_processing_then_ships_with_the_tracking_number():
    steps = walk("ship", {"ttn": "1057123456", "carrier": "econt"}, ("Pending", ""))
    assert [(s.status, s.comment) for s in steps] == [
        ("processing", "Your order is being prepared."), ("shipped", "Tracking: Econt 1057123456")]


def test_ship_keeps_the_sellers_own_words_after_the_tracking_number():
    [step] = walk("ship", {"ttn": "1057123456", "carrier": "econt", "comment": "Fragile"}, ("PROCESSING", ""))
    assert step.comment == "Tracking: Econt 1057123456. Fragile"


def test_a_step_already_in_the_history_is_not_planned_again():
    assert walk("ship", {"ttn": "1057123456", "carrier": "econt"},
                ("PROCESSING", ""), ("SHIPPED", "Tracking: Econt 1057123456")) == []
    assert walk("comment", {"text": "Packed with care"}, ("PROCESSING", "Packed with care")) == []


def test_complete_needs_shipped_first_and_says_why():
    with pytest.raises(CommandInvalid, match="does not allow COMPLETE after PROCESSING") as caught:
        walk("complete", {}, ("PROCESSING", ""))
    assert "tracking number" in caught.value.hint
    assert [s.status for s in walk("complete", {}, ("SHIPPED", "Tracking: 1"))] == ["complete"]


@pytest.mark.parametrize("kind,words", [("refund", "refunded: 49.90 EUR"), ("exchange", "exchanged: size M")])
def test_refund_and_exchange_both_write_refunded_with_words_that_say_which(kind, words):
    [step] = walk(kind, {"note": words.split(": ", 1)[1]}, ("COMPLETE", ""))
    assert (step.status, step.comment) == ("refunded", words)


def test_cancel_carries_the_reason_and_is_refused_after_shipping():
    [step] = walk("cancel", {"reason": "out_of_stock"}, ("PROCESSING", ""))
    assert (step.status, step.comment) == ("cancelled", "Cancelled: out of stock")
    with pytest.raises(CommandInvalid, match="CANCELLED after SHIPPED"):
        walk("cancel", {"reason": "out_of_stock"}, ("SHIPPED", "Tracking: 1"))


def test_a_finished_order_is_a_conflict():
    with pytest.raises(ConflictError, match="cancelled on Chopni"):
        walk("ship", {"ttn": "1057123456"}, ("Cancelled", "buyer asked"))


def test_a_comment_alone_keeps_the_status():
    [step] = walk("comment", {"text": "Packed with care"}, ("PROCESSING", ""))
    assert (step.status, step.comment) == ("", "Packed with care")


def test_accept_is_refused_because_chopni_has_no_such_step():
    with pytest.raises(CommandInvalid, match="no way to accept"):
        goal_for(build_command("accept"), PUSH)


@pytest.mark.parametrize("comment,method,expected", [
    ("Tracking: Econt 1057 1234 56789", "", ("econt", "1057123456789")),
    ("Tracking: 61234567890", "Speedy - to an office", ("speedy", "61234567890")),
    ("Tracking: 61234567890", "Pickup at the store", ("unknown", "61234567890")),
    ("Your order is on its way.", "Econt", None),
])
def test_the_carrier_comes_from_the_comment_else_the_shipping_method(comment, method, expected):
    assert tracking(comment, method) == expected
