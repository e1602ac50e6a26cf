"""The push planner, for each command from each status a seller meets: the steps Rozetka will accept, in order."""

from __future__ import annotations

import pytest

from adapters.rozetka.planner import STATIC_GRAPH, Remote, Step, goal_for, next_step, unapplied
from connector.domain import build_command
from connector.errors import CommandInvalid, ConflictError, PermanentError
from mappings import load

V = load("rozetka")
LIVE_26 = frozenset({55, 47, 2, 61, 42, 43, 28, 33, 40, 49, 20, 18, 29, 17, 37, 38})
TTN = "20450000000000"


def walk(kind: str, start: int, payload: dict | None = None, ttn: str = "", comments=()) -> list[Step]:
    """Run the planner against a fake Rozetka that obeys STATIC_GRAPH (and 2 + TTN → 61), re-reading each time."""
    goal = goal_for(build_command(kind, payload or {}), V.push)
    remote, steps = Remote(start, STATIC_GRAPH.get(start, frozenset()), ttn, tuple(comments)), []
    for _ in range(6):
        step = next_step(goal, remote, V)
        if step is None:
            return steps
        assert step.status in remote.available or step.status == remote.status, f"{step} not allowed from {remote}"
        steps.append(step)
        status = 61 if (step.status == 2 and step.ttn) else step.status
        remote = Remote(status, STATIC_GRAPH.get(status, frozenset()), step.ttn or remote.ttn,
                        remote.comments + ((step.seller_comment,) if step.seller_comment else ()))
    raise AssertionError(f"no end: {steps}")


def statuses(steps: list[Step]) -> list[int]:
    return [s.status for s in steps]


@pytest.mark.parametrize("start,expected", [(1, [26]), (26, []), (47, []), (2, []), (61, []), (3, [])])
def test_accept(start, expected):
    assert statuses(walk("accept", start)) == expected


@pytest.mark.parametrize("start,expected", [(1, [26, 2]), (26, [2]), (47, [2]), (55, [2]), (2, []), (3, [])])
def test_start_processing_walks_through_26(start, expected):
    assert statuses(walk("start_processing", start)) == expected


def test_ship_from_new_walks_26_then_61_with_the_ttn():
    steps = walk("ship", 1, {"ttn": TTN})
    assert statuses(steps) == [26, 61] and steps[0].ttn is None and steps[1].ttn == TTN


def test_ship_from_26_goes_straight_to_61():
    assert [(s.status, s.ttn) for s in walk("ship", 26, {"ttn": TTN})] == [(61, TTN)]


def test_ship_from_2_sends_61_with_the_ttn():
    assert [(s.status, s.ttn) for s in walk("ship", 2, {"ttn": TTN})] == [(61, TTN)]


def test_ship_uses_2_with_the_ttn_when_61_is_not_offered():
    goal = goal_for(build_command("ship", {"ttn": TTN}), V.push)
    step = next_step(goal, Remote(26, frozenset({2, 40}), "", ()), V)
    assert (step.status, step.ttn) == (2, TTN)  # Rozetka moves 2 + TTN to 61 by itself


@pytest.mark.parametrize("start", [61, 3, 4, 5])
def test_ship_is_already_done_once_the_ttn_is_on_the_order(start):
    assert walk("ship", start, {"ttn": TTN}, ttn=TTN) == []


def test_complete_from_handed_to_the_carrier():
    assert statuses(walk("complete", 3, ttn=TTN)) == [6]


def test_complete_of_a_new_order_is_refused_with_what_rozetka_allows():
    with pytest.raises(PermanentError, match="does not allow status 6 from 1") as caught:
        walk("complete", 1)
    assert "26" in str(caught.value)


@pytest.mark.parametrize("start,expected", [(1, [42]), (26, [42]), (2, [42])])
def test_cancel_for_out_of_stock_sets_42(start, expected):
    assert statuses(walk("cancel", start, {"reason": "out_of_stock"})) == expected


def test_cancel_is_done_when_the_order_is_already_cancelled_for_any_reason():
    assert walk("cancel", 40, {"reason": "out_of_stock"}) == []


def test_a_status_command_on_an_order_the_buyer_cancelled_is_a_conflict():
    with pytest.raises(ConflictError, match="cancelled on Rozetka"):
        walk("ship", 45, {"ttn": TTN})


def test_cancel_as_duplicate_needs_the_duplicated_orders_id():
    with pytest.raises(CommandInvalid, match="duplicates") as caught:
        walk("cancel", 26, {"reason": "duplicate"})
    assert caught.value.missing == ("duplicate_of",)
    [step] = walk("cancel", 26, {"reason": "duplicate", "duplicate_of": "903654001"})
    assert step.body() == {"status": 49, "duplicate_order_id": 903654001}


def test_refund_and_exchange_are_refused_with_the_reason():
    for kind in ("refund", "exchange"):
        with pytest.raises(CommandInvalid, match=f"no way to {kind}") as caught:
            goal_for(build_command(kind, {"note": "x"}), V.push)
        assert "Returns" in caught.value.hint or "return" in caught.value.hint


def test_a_cancel_reason_without_a_rozetka_status_is_refused():
    with pytest.raises(CommandInvalid, match="no cancellation status for reason fraud"):
        goal_for(build_command("cancel", {"reason": "fraud"}), V.push)


def test_a_comment_rides_on_the_current_status_once():
    steps = walk("comment", 26, {"text": "called the buyer"})
    assert [(s.status, s.seller_comment) for s in steps] == [(26, "called the buyer")]
    assert walk("comment", 26, {"text": "called the buyer"}, comments=["called the buyer"]) == []


def test_status_13_is_never_sent():
    goal = goal_for(build_command("cancel", {"reason": "out_of_stock"}), {**V.push,
                    "cancel_reasons": {"out_of_stock": "13"}})
    with pytest.raises(CommandInvalid, match="administrators"):
        next_step(goal, Remote(26, frozenset({13}), "", ()), V)


def test_a_step_that_needs_a_ttn_is_refused_locally_without_one():
    goal = goal_for(build_command("accept"), {**V.push, "commands": {"accept": "61"}})
    with pytest.raises(CommandInvalid, match="requires a TTN for status 61"):
        next_step(goal, Remote(26, LIVE_26, "", ()), V)


def test_the_live_status_available_wins_over_the_static_graph():
    payload = {"status": 26, "status_available": [{"child_id": 2}], "ttn": ""}
    remote = Remote.from_payload(payload)
    assert remote.available == {2}
    assert Remote.from_payload({"status": 26, "ttn": None}).available == STATIC_GRAPH[26]


# -- correcting a wrong TTN -----------------------------------------------------------------------------------------

NEW_TTN = "20450000000099"


@pytest.mark.parametrize("start", [61, 15])
def test_ship_with_a_new_ttn_goes_back_through_26_then_61_with_it(start):
    """Rozetka refuses 15 → 61 and ignores a new TTN sent to an order at 61; 26 clears the old one."""
    steps = walk("ship", start, {"ttn": NEW_TTN}, ttn=TTN)
    assert [(s.status, s.ttn) for s in steps] == [(26, None), (61, NEW_TTN)]


def test_the_live_status_available_of_61_is_followed_back_to_26():
    goal = goal_for(build_command("ship", {"ttn": NEW_TTN}), V.push)
    step = next_step(goal, Remote.from_payload({"status": 61, "ttn": TTN, "status_available": [
        {"child_id": 3}, {"child_id": 26}]}), V)
    assert (step.status, step.ttn) == (26, None)


def test_ship_with_a_new_ttn_where_rozetka_offers_no_way_back_is_refused_before_any_request():
    goal = goal_for(build_command("ship", {"ttn": NEW_TTN}), V.push)
    with pytest.raises(PermanentError, match="allowed now: 3"):
        next_step(goal, Remote(61, frozenset({3}), TTN, ()), V)


# -- writes Rozetka accepts and ignores -------------------------------------------------------------------------------

def test_a_comment_that_did_not_land_is_a_permanent_error_with_the_reason_and_a_hint():
    before = Remote(26, LIVE_26, "", ())
    problem = unapplied(Step(26, seller_comment="called the buyer"), before, before)
    assert isinstance(problem, PermanentError)
    assert "Rozetka keeps a seller comment only with a status change" in problem.message
    assert "--comment to the next status command" in problem.hint
    assert unapplied(Step(26, seller_comment="called the buyer"), before,
                     Remote(26, LIVE_26, "", ("called the buyer",))) is None


def test_a_ttn_that_did_not_change_is_a_permanent_error_naming_both_numbers():
    before = Remote(26, LIVE_26, "", ())
    ignored = unapplied(Step(61, ttn=NEW_TTN), before, Remote(61, frozenset({3, 26}), TTN, ()))
    assert isinstance(ignored, PermanentError) and NEW_TTN in ignored.message and TTN in ignored.message
    assert unapplied(Step(61, ttn=NEW_TTN), before, Remote(61, frozenset({3, 26}), NEW_TTN, ())) is None
    # a status step without a TTN or comment has nothing to read back
    assert unapplied(Step(26), Remote(61, frozenset({3, 26}), TTN, ()), Remote(26, LIVE_26, "", ())) is None
