"""Seller commands refuse to exist without the data they need, and say what is missing."""

from __future__ import annotations

import pytest

from connector.domain import CancelReason, CommandKind, Status, build_command
from connector.domain.commands import COMMANDS, Ship
from connector.errors import CommandInvalid


def test_ship_without_a_ttn_is_refused_with_a_clear_message():
    with pytest.raises(CommandInvalid) as caught:
        build_command("ship", {"carrier": "novaposhta"})
    assert caught.value.missing == ("ttn",)
    assert "ttn" in caught.value.message and "tracking number" in caught.value.hint


def test_blank_text_counts_as_missing():
    with pytest.raises(CommandInvalid) as caught:
        build_command("message_buyer", {"text": "   "})
    assert caught.value.missing == ("text",)


@pytest.mark.parametrize("kind,field", [("refund", "note"), ("exchange", "note"), ("comment", "text"),
                                        ("cancel", "reason")])
def test_each_command_names_its_required_field(kind, field):
    with pytest.raises(CommandInvalid) as caught:
        build_command(kind, {})
    assert caught.value.missing == (field,)


def test_cancel_reason_must_be_a_known_one():
    with pytest.raises(CommandInvalid, match="not known") as caught:
        build_command("cancel", {"reason": "bored"})
    assert "out_of_stock" in caught.value.hint
    assert build_command("cancel", {"reason": "out_of_stock"}).reason is CancelReason.OUT_OF_STOCK


def test_unknown_kind_and_unknown_fields_are_refused_by_name():
    with pytest.raises(CommandInvalid, match="unknown command 'teleport'"):
        build_command("teleport")
    with pytest.raises(CommandInvalid, match="does not take colour"):
        build_command("accept", {"colour": "red"})


def test_ttn_spaces_are_removed():
    assert Ship(ttn=" 2045 0000 0000 00 ").ttn == "20450000000000"


def test_every_kind_has_a_command():
    assert set(COMMANDS) == set(CommandKind)


def test_same_intent_same_key_different_intent_different_key():
    ship = build_command("ship", {"ttn": "20450000000000"})
    assert ship.idempotency_key("a:1") == build_command("ship", {"ttn": "2045 0000 0000 00"}).idempotency_key("a:1")
    assert ship.idempotency_key("a:1") != build_command("ship", {"ttn": "20450000000001"}).idempotency_key("a:1")
    assert ship.idempotency_key("a:1") != ship.idempotency_key("a:2")


def test_payload_round_trips_through_build_command():
    cancel = build_command("cancel", {"reason": "buyer_request", "comment": "asked by phone"})
    assert build_command(cancel.kind, cancel.payload()) == cancel


def test_a_status_command_unreachable_from_the_current_status_is_refused():
    with pytest.raises(CommandInvalid, match="cannot cancel an order that is shipped"):
        build_command("cancel", {"reason": "out_of_stock"}).check_allowed_from(Status.SHIPPED)
    build_command("cancel", {"reason": "out_of_stock"}).check_allowed_from(Status.ACCEPTED)
    build_command("comment", {"text": "called"}).check_allowed_from(Status.REFUNDED)  # comments always go
    build_command("refund", {"note": "money back"}).check_allowed_from(Status.COMPLETED)  # via a return


@pytest.mark.parametrize("ttn", ["2" * 500, "2045 0000 <script>", "20450000000000\x00"])
def test_ship_refuses_what_cannot_be_a_tracking_number(ttn):
    with pytest.raises(CommandInvalid) as caught:
        build_command("ship", {"ttn": ttn})
    assert caught.value.missing == ("ttn",) and "tracking number" in caught.value.message


def test_ship_keeps_a_pasted_number_without_its_spaces():
    assert build_command("ship", {"ttn": " 2045 0000 0000 00 "}).ttn == "20450000000000"
