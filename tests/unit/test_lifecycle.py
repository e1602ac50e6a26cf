"""The lifecycle's rules: legal steps apply, jumps are flagged, nothing moves an order back along the main path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain import Actor, MarketplaceStatus, Outcome, Status
from connector.domain.lifecycle import MAIN_PATH, TERMINAL, TRANSITIONS, decide, rank
from tests.factories import T0, pulled


def test_every_status_has_an_entry_in_the_graph():
    assert set(TRANSITIONS) == set(Status)


def test_terminal_statuses_have_no_way_out_except_a_return_after_completion():
    for status in TERMINAL - {Status.COMPLETED}:
        assert TRANSITIONS[status] == frozenset()
    assert TRANSITIONS[Status.COMPLETED] == {Status.RETURN_REQUESTED, Status.REFUNDED, Status.EXCHANGED}


def test_a_legal_step_is_applied():
    d = decide(Status.NEW, 0, Status.ACCEPTED)
    assert (d.outcome, d.status, d.progress) == (Outcome.APPLIED, Status.ACCEPTED, 1)


def test_a_marketplace_skipping_steps_is_applied_as_a_jump():
    d = decide(Status.NEW, 0, Status.SHIPPED)
    assert (d.outcome, d.status, d.progress) == (Outcome.JUMP, Status.SHIPPED, rank(Status.SHIPPED))


def test_moving_back_along_the_main_path_is_ignored():
    d = decide(Status.SHIPPED, rank(Status.SHIPPED), Status.PROCESSING)
    assert (d.outcome, d.status) == (Outcome.IGNORED_REGRESSION, Status.SHIPPED)


def test_an_order_in_unknown_still_remembers_how_far_it_came():
    d = decide(Status.UNKNOWN, rank(Status.SHIPPED), Status.NEW)
    assert d.outcome is Outcome.IGNORED_REGRESSION and d.status is Status.UNKNOWN


def test_an_event_older_than_the_current_status_is_stale():
    d = decide(Status.ACCEPTED, 1, Status.CANCELLED, occurred_at=T0, current_since=T0 + timedelta(seconds=1))
    assert (d.outcome, d.status) == (Outcome.IGNORED_STALE, Status.ACCEPTED)


def test_an_unmapped_status_is_applied_and_needs_review():
    d = decide(Status.PROCESSING, 2, Status.UNKNOWN)
    assert d.outcome is Outcome.UNMAPPED and d.status is Status.UNKNOWN and d.progress == 2
    assert d.outcome.needs_review


def test_off_path_statuses_imply_progress():
    # a failed delivery proves the parcel was shipped: an old "processing" page must not win afterwards
    d = decide(Status.SHIPPED, rank(Status.SHIPPED), Status.DELIVERY_FAILED)
    assert decide(d.status, d.progress, Status.PROCESSING).outcome is Outcome.IGNORED_REGRESSION


def test_order_records_history_and_flags_review_for_a_regression():
    order = pulled(status=Status.SHIPPED, code="3")
    order.propose_status(Status.SHIPPED, actor=Actor.MARKETPLACE, first=True, now=T0)
    event = order.propose_status(Status.NEW, actor=Actor.MARKETPLACE, marketplace_status=MarketplaceStatus("1"),
                                 now=T0)
    assert event is not None and event.outcome is Outcome.IGNORED_REGRESSION
    assert order.status is Status.SHIPPED and order.marketplace_status.code == "3"
    assert order.needs_review and "back along the main path" in order.review_reason


def test_proposing_the_current_status_records_nothing():
    order = pulled(status=Status.NEW)
    order.propose_status(Status.NEW, actor=Actor.MARKETPLACE, first=True, now=T0)
    assert order.propose_status(Status.NEW, actor=Actor.MARKETPLACE, now=T0) is None


def test_naive_datetimes_are_refused():
    order = pulled()
    with pytest.raises(ValueError, match="timezone-aware"):
        order.propose_status(Status.ACCEPTED, actor=Actor.MARKETPLACE, occurred_at=T0.replace(tzinfo=None))


events = st.lists(
    st.tuples(st.sampled_from(list(Status)), st.sampled_from(list(Actor)), st.integers(-30, 30)),
    min_size=1, max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(first=st.sampled_from(list(Status)), events=events)
def test_no_sequence_of_events_regresses_an_order_and_every_change_lands_in_history(first, events):
    order = pulled(status=first)
    history = [order.propose_status(first, actor=Actor.MARKETPLACE, first=True, now=T0)]
    clock, changes = T0, 0
    for proposed, actor, skew in events:
        progress_before, status_before = order.progress, order.status
        clock += timedelta(minutes=1)
        event = order.propose_status(proposed, actor=actor, occurred_at=clock + timedelta(minutes=skew), now=clock)
        if proposed is status_before:
            assert event is None
            continue
        changes += 1
        assert event is not None and event.to_status is proposed and event.from_status is status_before
        history.append(event)
        assert order.progress >= progress_before  # progress never goes back
        if order.status in MAIN_PATH and order.status is not status_before:
            assert rank(order.status) >= progress_before  # the main path never goes back
        if not event.outcome.applied:
            assert order.status is status_before
    assert history[0] is not None and len(history) == 1 + changes
