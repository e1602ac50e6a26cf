"""The Rozetka sandbox's rules, one at a time: auth, search, the PUT transition rules, messages and every fault."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.rozetka.sandbox import RozetkaSandbox

USER, PASSWORD = "shop@example.com", "password"
EXPAND = "user,delivery,delivery_service,purchases,payment,status_data,status_available,order_status_history"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Api:
    """A logged-in caller of one sandbox."""

    def __init__(self, sandbox: RozetkaSandbox) -> None:
        self.sandbox = sandbox
        self.http = httpx.Client(base_url=sandbox.url, timeout=5)
        self.token = self.login(PASSWORD).json()["content"]["access_token"]

    def login(self, password: str) -> httpx.Response:
        encoded = base64.b64encode(password.encode()).decode()
        return self.http.post("/sites", json={"username": USER, "password": encoded})

    def get(self, path: str, **params) -> httpx.Response:
        return self.http.get(path, params=params, headers={"Authorization": f"Bearer {self.token}"})

    def put(self, order_id: int, body: dict) -> dict:
        return self.http.put(f"/orders/{order_id}", json=body,
                             headers={"Authorization": f"Bearer {self.token}"}).json()

    def search(self, **params) -> dict:
        return self.get("/orders/search", **params).json()["content"]


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 5, 1, 7, 30, tzinfo=UTC))  # 10:30 in Kyiv (UTC+3 in summer)


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[RozetkaSandbox]:
    with RozetkaSandbox(seed=5, clock=clock) as sandbox:
        sandbox.add_seller(USER, PASSWORD)
        yield sandbox


@pytest.fixture
def api(sandbox: RozetkaSandbox) -> Iterator[Api]:
    api = Api(sandbox)
    yield api
    api.http.close()


def refusal(answer: dict) -> tuple[int, dict]:
    assert answer["success"] is False
    return answer["errors"]["code"], answer["errors"]["details"]


# -- auth -----------------------------------------------------------------------------------------------------------

def test_a_wrong_password_is_refused_with_1004(api: Api) -> None:
    answer = api.login("wrong").json()
    assert answer == {"success": False,
                      "errors": {"message": "incorrect_username_password", "code": 1004, "details": None}}


def test_the_plain_password_is_refused_too_the_api_wants_base64(api: Api) -> None:
    answer = api.http.post("/sites", json={"username": USER, "password": PASSWORD}).json()
    assert answer["errors"]["code"] == 1004


def test_an_expired_token_gets_401(api: Api, sandbox: RozetkaSandbox) -> None:
    assert api.get("/orders/search").status_code == 200
    sandbox.expire_tokens()
    answer = api.get("/orders/search")
    assert answer.status_code == 401
    # the documented code for "an attempt to reach methods that need authorisation", not the HTTP status
    assert answer.json() == {"success": False,
                             "errors": {"message": "invalid_credentials", "code": 5401, "details": None}}


def test_a_token_dies_after_its_ttl(api: Api, clock: Clock) -> None:
    clock.now += timedelta(hours=23, minutes=59)
    assert api.get("/orders/search").status_code == 200
    clock.now += timedelta(minutes=2)
    assert api.get("/orders/search").status_code == 401


def test_a_call_without_a_token_gets_401(api: Api) -> None:
    assert api.http.get("/orders/search").status_code == 401


def test_a_static_token_without_the_orders_role_gets_1010(api: Api, sandbox: RozetkaSandbox) -> None:
    sandbox.add_api_token("content-only", roles=("default_content",))
    sandbox.add_api_token("owner")
    denied = api.http.get("/orders/search", headers={"Authorization": "Bearer content-only"}).json()
    allowed = api.http.get("/orders/search", headers={"Authorization": "Bearer owner"}).json()
    assert refusal(denied) == (1010, None)
    assert allowed["success"] is True


# -- search ---------------------------------------------------------------------------------------------------------

def test_pages_of_twenty_over_45_orders_and_a_page_past_the_end_is_the_last_again(clock: Clock) -> None:
    """Yii2's Pagination (validatePage) clamps the page to [0, pageCount − 1]: never an empty page past the end."""
    with RozetkaSandbox(seed=1, orders=45, clock=clock) as sandbox:
        sandbox.add_seller(USER, PASSWORD)
        api = Api(sandbox)
        pages = [api.search(types=1, sort="id", page=n) for n in (1, 2, 3, 4, 99)]
        before = api.search(types=1, sort="id", page=0)
        empty = api.search(types=4, sort="id", id=1, page=2)
    assert [len(p["orders"]) for p in pages] == [20, 20, 5, 5, 5]
    assert {p["_meta"]["pageCount"] for p in pages} == {3}
    assert [p["_meta"]["currentPage"] for p in pages] == [1, 2, 3, 3, 3]
    assert pages[3]["orders"] == pages[2]["orders"] == pages[4]["orders"]
    assert len({o["id"] for p in pages for o in p["orders"]}) == 45
    assert before["orders"] == pages[0]["orders"] and before["_meta"]["currentPage"] == 1
    assert empty["orders"] == [] and (empty["_meta"]["pageCount"], empty["_meta"]["currentPage"]) == (0, 1)


def test_changed_from_compares_kyiv_wall_clock_time(api: Api, sandbox: RozetkaSandbox, clock: Clock) -> None:
    clock.now = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)  # 10:00 in Kyiv (UTC+3 in summer)
    early = sandbox.add_order(status=26)
    clock.now = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    late = sandbox.add_order(status=26)
    # stamped in Kyiv time, not UTC (07:00 / 07:30)
    assert (sandbox.order(early)["changed"], sandbox.order(late)["changed"]) == ("2024-05-01 10:00:00",
                                                                                  "2024-05-01 10:30:00")
    ids = lambda **q: [o["id"] for o in api.search(sort="id", **q)["orders"]]  # noqa: E731
    assert ids(changed_from="2024-05-01 10:30:00") == [late]  # inclusive
    assert ids(changed_from="2024-05-01") == [early, late]  # a bare date starts at midnight
    assert ids(changed_from="2024-05-01 10:00:00") == [early, late]
    assert ids(changed_to="2024-05-01 10:29:59") == [early]
    assert ids(changed_from="2024-05-01 10:31:00") == []


def test_a_put_moves_changed_to_now(api: Api, sandbox: RozetkaSandbox, clock: Clock) -> None:
    order = sandbox.add_order(status=26)
    clock.now += timedelta(minutes=5)
    api.put(order, {"status": 2, "seller_comment": "called the buyer"})
    assert sandbox.order(order)["changed"] == "2024-05-01 10:35:00"


def _get(api: Api, sandbox: RozetkaSandbox, **headers: str) -> dict:
    return api.http.get("/orders/search", params={"sort": "id", "changed_from": "yesterday"},
                        headers={"Authorization": f"Bearer {api.token}", **headers}).json()


def test_a_bad_filter_is_a_validation_error_only_with_accept_validate_exception(api: Api,
                                                                              sandbox: RozetkaSandbox) -> None:
    """The apiDoc: send the header to receive validation errors from */search; omit it or send 0 otherwise. Without
    it the filter Rozetka cannot read is dropped: the answer is the unfiltered list."""
    orders = sorted(sandbox.add_order(26) for _ in range(3))
    assert _get(api, sandbox, **{"Accept-Validate-Exception": "1"}) == {"success": False, "errors": {
        "message": "incorrect_data_format", "code": 1002,
        "details": {"changed_from": ["Формат дати: YYYY-MM-DD або YYYY-MM-DD HH:MM:SS."]}}}
    for headers in ({}, {"Accept-Validate-Exception": "0"}, {"Accept-Validate-Exception": "false"}):
        answer = _get(api, sandbox, **headers)
        assert answer["success"] is True and [o["id"] for o in answer["content"]["orders"]] == orders, headers


def test_sort_id_ascends_and_the_default_descends(clock: Clock) -> None:
    with RozetkaSandbox(seed=2, orders=8, clock=clock) as sandbox:
        sandbox.add_seller(USER, PASSWORD)
        api = Api(sandbox)
        ascending = [o["id"] for o in api.search(sort="id")["orders"]]
        default = [o["id"] for o in api.search()["orders"]]
    assert ascending == sorted(ascending) and len(ascending) == 8
    assert default == sorted(ascending, reverse=True)


def test_types_filter_by_status_group(api: Api, sandbox: RozetkaSandbox) -> None:
    new, cancelled, done = sandbox.add_order(1), sandbox.add_order(40), sandbox.add_order(6)
    ids = lambda **q: {o["id"] for o in api.search(**q)["orders"]}  # noqa: E731
    assert ids(types=4) == {new}
    assert ids(types=6) == {cancelled}
    assert ids(types=3) == {done}
    assert ids(types=1) == {new, cancelled, done}


def test_expand_decides_which_keys_an_order_carries(api: Api, sandbox: RozetkaSandbox) -> None:
    sandbox.add_order(26)
    bare = api.search()["orders"][0]
    some = api.search(expand="purchases,status_available")["orders"][0]
    assert "purchases" not in bare and "user" not in bare and "status_data" not in bare
    assert {"id", "status", "ttn", "changed", "carrier"} <= bare.keys()
    assert "purchases" in some and "user" not in some
    assert [a["child_id"] for a in some["status_available"]][:4] == [55, 47, 2, 61]


def test_an_unknown_order_is_1019(api: Api) -> None:
    assert refusal(api.get("/orders/1").json())[0] == 1019


# -- PUT /orders/{id} -----------------------------------------------------------------------------------------------

def test_1_to_61_is_refused_with_rozetkas_exact_words(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(1)
    answer = api.put(order, {"status": 61, "ttn": "20450000000000"})
    assert answer == {"success": False, "errors": {
        "code": 1005, "message": "check_correctness_of_data",
        "details": {"status": ["Неможливо змінити статус. З 1 на 61. Наступний статус недоступний."]}}}
    assert sandbox.order(order)["status"] == 1


def test_26_to_61_needs_a_ttn(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    code, details = refusal(api.put(order, {"status": 61}))
    assert code == 1005 and "ttn" in details
    assert sandbox.order(order)["status"] == 26


def test_26_to_61_with_a_ttn_moves_and_records_everything(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    content = api.put(order, {"status": 61, "ttn": "20450000000000", "seller_comment": "Sent"})["content"]
    assert (content["status"], content["status_group"], content["ttn"]) == (61, 1, "20450000000000")
    assert content["changed"] == content["last_update_status"] == "2024-05-01 10:30:00"
    assert content["status_data"]["name_uk"] == "Заплановано передачу перевізникові"
    assert [a["child_id"] for a in content["status_available"]] == [3, 26]
    assert content["order_status_history"][-1]["status_id"] == 61
    assert content["seller_comment"][-1] == {"comment": "Sent", "created": "2024-05-01 10:30:00"}
    assert "purchases" in content  # the answer carries the whole order


def test_2_with_a_ttn_lands_on_61(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    content = api.put(order, {"status": 2, "ttn": "20450000000001"})["content"]
    assert (content["status"], content["ttn"]) == (61, "20450000000001")
    assert [h["status_id"] for h in content["order_status_history"]][-2:] == [2, 61]


def test_2_without_a_ttn_stays_on_2(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    assert api.put(order, {"status": 2})["content"]["status"] == 2


def test_13_is_never_settable(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    code, details = refusal(api.put(order, {"status": 13}))
    assert code == 1005 and "З 26 на 13" in details["status"][0]


def test_49_needs_the_duplicated_orders_id(api: Api, sandbox: RozetkaSandbox) -> None:
    order, original = sandbox.add_order(26), sandbox.add_order(26)
    code, details = refusal(api.put(order, {"status": 49}))
    assert code == 1005 and "duplicate_order_id" in details
    content = api.put(order, {"status": 49, "duplicate_order_id": original})["content"]
    assert (content["status"], content["status_group"], content["duplicate_order_id"]) == (49, 3, original)


def test_a_put_without_status_is_1001(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    assert refusal(api.put(order, {"seller_comment": "hi"}))[0] == 1001


def test_the_current_status_again_answers_success_and_stores_nothing(api: Api, sandbox: RozetkaSandbox,
                                                                      clock: Clock) -> None:
    """Nothing documents that a same-status PUT keeps a comment; a public client's tests call it a no-op."""
    order = sandbox.add_order(26)
    before = sandbox.order(order)
    clock.now += timedelta(minutes=5)
    for body in ({"status": 26, "seller_comment": "Packed"}, {"status": 26}):
        answer = api.put(order, body)
        assert answer["success"] is True and answer["content"]["status"] == 26
    assert sandbox.order(order) == before  # no comment, no history, not even a new ``changed``


def test_a_new_ttn_sent_to_an_order_at_61_is_silently_ignored(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    api.put(order, {"status": 61, "ttn": "20450000000001"})
    answer = api.put(order, {"status": 61, "ttn": "20450000000002"})
    assert answer["success"] is True and answer["content"]["ttn"] == "20450000000001"
    assert sandbox.order(order)["ttn"] == "20450000000001"


def test_a_wrong_ttn_is_corrected_through_26_which_clears_it(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    api.put(order, {"status": 61, "ttn": "20450000000001"})
    sandbox.set_status(order, 15)  # Rozetka's move: "Некоректний ТТН"
    code, details = refusal(api.put(order, {"status": 61, "ttn": "20450000000002"}))
    assert code == 1005 and details == {
        "status": ["Неможливо змінити статус. З 15 на 61. Наступний статус недоступний."]}
    assert [a["child_id"] for a in api.get(f"/orders/{order}", expand="status_available").json()["content"][
        "status_available"]] == [26]
    content = api.put(order, {"status": 26})["content"]
    assert (content["status"], content["ttn"]) == (26, "")
    content = api.put(order, {"status": 61, "ttn": "20450000000002"})["content"]
    assert (content["status"], content["ttn"]) == (61, "20450000000002")
    assert [h["status_id"] for h in content["order_status_history"]][-4:] == [61, 15, 26, 61]


def test_61_goes_back_to_26_and_loses_its_ttn(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(61)
    assert sandbox.order(order)["ttn"]
    content = api.put(order, {"status": 26})["content"]
    assert (content["status"], content["ttn"]) == (26, "")


def test_set_status_bypasses_the_seller_rules(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(3)
    sandbox.set_status(order, 5)  # the carrier's move: 3 → 5 is no seller transition
    content = api.get(f"/orders/{order}", expand=EXPAND).json()["content"]
    assert (content["status"], content["status_data"]["id"]) == (5, 5)
    assert [a["child_id"] for a in content["status_available"]] == [6]
    assert content["order_status_history"][-1]["status_id"] == 5


# -- messages -------------------------------------------------------------------------------------------------------

def test_a_message_goes_into_the_orders_chat(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    chat = api.get(f"/messages/{order}/order-chat", expand="messages").json()["content"]
    assert (chat["order_id"], chat["user_id"], chat["messages"]) == (order, sandbox.order(order)["user"]["id"], [])
    body = {"body": "Your parcel leaves today.", "chat_id": chat["id"], "receiver_id": chat["user_id"],
            "order_id": order, "sendEmailUser": 1}
    sent = api.http.post("/messages/create", json=body, headers={"Authorization": f"Bearer {api.token}"}).json()
    assert sent["content"]["body"] == "Your parcel leaves today." and sent["content"]["seller_id"] == 111
    assert len(sandbox.messages_sent) == 1
    again = api.get(f"/messages/{order}/order-chat", expand="messages").json()["content"]
    assert [(m["body"], m["receiver_id"]) for m in again["messages"] if m.get("seller")] == [
        ("Your parcel leaves today.", chat["user_id"])]


def test_the_order_chat_shows_messages_only_when_expanded_and_names_the_buyer_in_user_id(
        api: Api, sandbox: RozetkaSandbox) -> None:
    """``messages`` is an expand field; ``user_id`` is the buyer and ``user`` someone else, as in the apiDoc's
    first example (ids 545645 and 3727496)."""
    order = sandbox.add_order(26)
    bare = api.get(f"/messages/{order}/order-chat").json()["content"]
    assert "messages" not in bare
    assert bare["user_id"] == sandbox.order(order)["user"]["id"] != bare["user"]["id"]
    assert "messages" in api.get(f"/messages/{order}/order-chat", expand="messages").json()["content"]


def test_an_empty_message_is_1001(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    answer = api.http.post("/messages/create", json={"body": " ", "order_id": order},
                           headers={"Authorization": f"Bearer {api.token}"}).json()
    assert refusal(answer)[0] == 1001
    assert sandbox.messages_sent == []


# -- recording and faults -------------------------------------------------------------------------------------------

def test_every_request_is_recorded(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    api.search(page=2, sort="id")
    api.put(order, {"status": 2})
    assert sandbox.requests[0] == ("POST", "/sites", {}, {"username": USER, "password": "cGFzc3dvcmQ="})
    assert sandbox.requests[1:] == [("GET", "/orders/search", {"page": "2", "sort": "id"}, None),
                                    ("PUT", f"/orders/{order}", {}, {"status": 2})]


def test_server_error_answers_5xx_with_html_once(api: Api) -> None:
    api.sandbox.faults.next("server_error")
    failed = api.get("/orders/search")
    assert failed.status_code in (500, 502, 503) and "<html>" in failed.text
    assert api.get("/orders/search").status_code == 200  # count-based: only the next request


def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    api.sandbox.faults.next("rate_limit", retry_after=7)
    answer = api.get("/orders/search")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "7")


def test_reset_drops_the_connection(api: Api) -> None:
    api.sandbox.faults.next("reset")
    with pytest.raises(httpx.TransportError):
        api.get("/orders/search")
    assert api.get("/orders/search").status_code == 200


def test_malformed_answers_200_with_broken_json(api: Api) -> None:
    api.sandbox.faults.next("malformed")
    answer = api.get("/orders/search")
    assert answer.status_code == 200 and answer.text.startswith('{"success": true')
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)


def test_slow_answers_late_but_normally(api: Api) -> None:
    api.sandbox.faults.next("slow", seconds=0.2)
    started = time.monotonic()
    answer = api.get("/orders/search")
    assert time.monotonic() - started >= 0.19
    assert answer.json()["success"] is True


def test_repeat_page_returns_page_one_for_page_two(clock: Clock) -> None:
    with RozetkaSandbox(seed=3, orders=5, page_size=2, clock=clock) as sandbox:
        sandbox.add_seller(USER, PASSWORD)
        api = Api(sandbox)
        first = [o["id"] for o in api.search(sort="id", page=1)["orders"]]
        sandbox.faults.next("repeat_page")
        repeated = [o["id"] for o in api.search(sort="id", page=2)["orders"]]
        honest = [o["id"] for o in api.search(sort="id", page=2)["orders"]]
    assert repeated == first and honest != first


def test_expire_token_answers_401_and_a_new_login_works(api: Api) -> None:
    api.sandbox.faults.next("expire_token")
    assert api.get("/orders/search").status_code == 401
    api.token = api.login(PASSWORD).json()["content"]["access_token"]
    assert api.get("/orders/search").status_code == 200


def test_a_fault_with_a_path_spares_other_paths(api: Api, sandbox: RozetkaSandbox) -> None:
    order = sandbox.add_order(26)
    sandbox.faults.next("server_error", path="/orders/search")
    assert api.get(f"/orders/{order}").status_code == 200
    assert api.get("/orders/search").status_code >= 500


def test_a_rate_of_one_hits_every_request_until_cleared(api: Api) -> None:
    api.sandbox.faults.rate("rate_limit", 1.0)
    assert [api.get("/orders/search").status_code for _ in range(3)] == [429, 429, 429]
    api.sandbox.faults.clear()
    assert api.get("/orders/search").status_code == 200


def test_an_unknown_fault_kind_is_refused(sandbox: RozetkaSandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.faults.next("earthquake")
