"""The Rozetka adapter's push against a fake client that answers success and ignores what Rozetka ignores: what
the adapter reads back decides, and a write that did not land fails the command once, with the reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters.rozetka.adapter import RozetkaAdapter
from connector.domain import build_command
from connector.errors import PermanentError
from mappings import load

OLD, NEW = "20450000000001", "20450000000002"
BUYER, CHAT_USER = 3727496, 545645  # the apiDoc's order-chat example: user_id is the buyer, user.id someone else


class FakeClient:
    """One order and its chat. ``ignore_ttn``: a PUT keeps the order's TTN whatever it sends (Rozetka's answer to
    a new TTN on an order already at 61)."""

    def __init__(self, status: int, ttn: str = "", *, ignore_ttn: bool = False,
                 chat: dict[str, Any] | None = None) -> None:
        self.order = {"id": 903654095, "status": status, "ttn": ttn, "seller_comment": []}
        self.ignore_ttn = ignore_ttn
        self.chat = chat
        self.puts: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    def get_order(self, order_id: Any, expand: str) -> dict[str, Any]:
        return copy.deepcopy(self.order)  # no status_available: the planner's static graph applies

    def update_order(self, order_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        self.puts.append(body)
        if body["status"] != self.order["status"]:  # the same status again changes nothing
            self.order["status"] = body["status"]
            if not self.ignore_ttn:
                self.order["ttn"] = "" if body["status"] == 26 else body.get("ttn", self.order["ttn"])
            if body.get("seller_comment"):
                self.order["seller_comment"].append({"comment": body["seller_comment"]})
        return copy.deepcopy(self.order)

    def order_chat(self, order_id: Any) -> dict[str, Any]:
        return copy.deepcopy(self.chat)

    def create_message(self, body: dict[str, Any]) -> dict[str, Any]:
        self.messages.append(body)
        return {"chat_id": body["chat_id"], "body": body["body"]}

    def close(self) -> None:
        pass


def adapter(client: FakeClient) -> RozetkaAdapter:
    return RozetkaAdapter("rozetka-main", client, load("rozetka"), sleep=lambda _: None)  # type: ignore[arg-type]


# -- comments -------------------------------------------------------------------------------------------------------

def test_a_comment_rozetka_did_not_keep_fails_once_with_the_reason_and_is_never_sent_again():
    client = FakeClient(26)
    with pytest.raises(PermanentError) as caught:
        adapter(client).push(build_command("comment", {"text": "called the buyer"}), "903654095")
    assert client.puts == [{"status": 26, "seller_comment": "called the buyer"}]  # one PUT, then the read-back
    assert "Rozetka keeps a seller comment only with a status change" in caught.value.message
    assert caught.value.hint == "add it as --comment to the next status command"


def test_a_comment_riding_on_a_status_change_lands_and_is_read_back():
    client = FakeClient(1)
    result = adapter(client).push(build_command("accept", {"comment": "called the buyer"}), "903654095")
    assert client.puts == [{"status": 26, "seller_comment": "called the buyer"}] and result.remote_status == "26"


# -- a new TTN ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("start", [61, 15])
def test_a_new_ttn_goes_through_26_and_lands_at_61(start):
    client = FakeClient(start, OLD)
    result = adapter(client).push(build_command("ship", {"ttn": NEW}), "903654095")
    assert client.puts == [{"status": 26}, {"status": 61, "ttn": NEW}]
    assert (client.order["status"], client.order["ttn"], result.remote_status) == (61, NEW, "61")


def test_a_ttn_rozetka_ignored_fails_clearly_instead_of_walking_again():
    client = FakeClient(61, OLD, ignore_ttn=True)
    with pytest.raises(PermanentError) as caught:
        adapter(client).push(build_command("ship", {"ttn": NEW}), "903654095")
    assert client.puts == [{"status": 26}, {"status": 61, "ttn": NEW}]  # not 26, 61, 26, 61, …
    assert f"did not take TTN {NEW}" in caught.value.message and OLD in caught.value.message


def test_the_same_ttn_again_is_already_done():
    client = FakeClient(61, OLD)
    result = adapter(client).push(build_command("ship", {"ttn": OLD}), "903654095")
    assert client.puts == [] and result.skipped


# -- buyer messages -------------------------------------------------------------------------------------------------

def chat(**changes: Any) -> dict[str, Any]:
    return {"id": 1516934, "user": {"id": CHAT_USER, "login": "sellerLogin"}, "order_id": 903654095, "type": 0,
            "user_id": BUYER, "messages": [], **changes}


def test_a_message_goes_to_the_buyer_named_by_user_id():
    client = FakeClient(26, chat=chat())
    result = adapter(client).push(build_command("message_buyer", {"text": "Your parcel leaves today."}), "903654095")
    assert result.sent == ["message to the buyer"]
    assert [(m["chat_id"], m["receiver_id"]) for m in client.messages] == [(1516934, BUYER)]


def test_a_message_the_chat_already_holds_is_not_sent_again():
    sent = {"chat_id": 1516934, "body": "Your parcel leaves today.", "sender": 2, "seller": {"id": 165},
            "receiver_id": BUYER}
    client = FakeClient(26, chat=chat(messages=[sent]))
    result = adapter(client).push(build_command("message_buyer", {"text": "Your parcel leaves today."}), "903654095")
    assert client.messages == [] and result.skipped == ["already sent: the chat holds this message"]


@pytest.mark.parametrize("broken", [{"messages": None}, {"messages": "n/a"}, {"user_id": None}])
def test_a_chat_that_cannot_be_read_is_never_sent_to_blindly(broken):
    client = FakeClient(26, chat={k: v for k, v in chat(**broken).items() if v is not None})
    with pytest.raises(PermanentError) as caught:
        adapter(client).push(build_command("message_buyer", {"text": "Your parcel leaves today."}), "903654095")
    assert client.messages == [] and "nothing was sent" in caught.value.message and caught.value.hint
