"""Classification and retries of the Rozetka client, one fault at a time (httpx.MockTransport, no network)."""

from __future__ import annotations

import httpx
import pytest

from adapters.base import HttpPolicy
from adapters.rozetka.client import RozetkaClient
from connector.errors import AuthError, PermanentError, TransientError

OK = {"success": True, "content": {"orders": [], "_meta": {"pageCount": 1}}}
LOGIN = {"success": True, "content": {"access_token": "t"}}


def make(responses, *, token=None, attempts=5):
    """A client whose transport answers ``responses`` in order (a response, an exception, or a callable)."""
    calls, sleeps = [], []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/sites":
            return httpx.Response(200, json=LOGIN)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    client = RozetkaClient("https://rozetka.test", username=None if token else "u", password=None if token else "p",
                           token=token, transport=httpx.MockTransport(handler),
                           policy=HttpPolicy(attempts=attempts, max_total=1000), sleep=sleeps.append)
    return client, calls, sleeps


def search(client):
    return client.search_orders({"page": 1})


def test_a_5xx_is_retried_with_backoff_then_succeeds():
    client, calls, sleeps = make([httpx.Response(502, text="<html>bad gateway</html>"), httpx.Response(200, json=OK)])
    assert search(client) == OK["content"]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5


def test_429_waits_as_long_as_retry_after_says():
    client, _, sleeps = make([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=OK)])
    search(client)
    assert sleeps == [7.0]


def test_a_dropped_connection_is_retried():
    client, _, _ = make([httpx.RemoteProtocolError("peer closed connection"), httpx.Response(200, json=OK)])
    assert search(client) == OK["content"]


def test_a_timeout_is_retried_and_every_request_has_one():
    client, _, _ = make([httpx.ReadTimeout("slow"), httpx.Response(200, json=OK)])
    assert search(client) == OK["content"]
    assert client._http.timeout.read == HttpPolicy().timeout


def test_malformed_json_is_transient():
    client, _, _ = make([httpx.Response(200, text='{"success": tr'), httpx.Response(200, json=OK)])
    assert search(client) == OK["content"]


def test_retries_are_bounded():
    client, calls, sleeps = make([httpx.Response(503)] * 3, attempts=3)
    with pytest.raises(TransientError, match="HTTP 503"):
        search(client)
    assert len([c for c in calls if c.url.path != "/sites"]) == 3 and len(sleeps) == 2


def test_backoff_grows_and_is_jittered():
    policy = HttpPolicy(backoff_initial=1, backoff_max=8)
    ceilings = []
    for attempt in range(1, 6):
        state = type("S", (), {"attempt_number": attempt, "outcome": None})()
        ceilings.append(max(policy._wait(state) for _ in range(200)))
    assert ceilings[0] <= 1 < ceilings[2] <= 4 < ceilings[4] <= 8


def test_success_false_with_a_transient_code_is_retried():
    busy = {"success": False, "errors": {"code": 5503, "message": "technical_maintenance"}}
    client, _, _ = make([httpx.Response(200, json=busy), httpx.Response(200, json=OK)])
    assert search(client) == OK["content"]


def test_a_validation_error_is_never_retried():
    bad = {"success": False, "errors": {"code": 1002, "message": "incorrect_data_format", "details": {"page": ["x"]}}}
    client, calls, _ = make([httpx.Response(200, json=bad)])
    with pytest.raises(PermanentError, match="page: x") as caught:
        search(client)
    assert caught.value.code == 1002 and len(calls) == 2  # login + one search


def test_a_stale_token_is_renewed_once_never_in_a_loop():
    client, calls, _ = make([httpx.Response(401, json={}), httpx.Response(401, json={})])
    with pytest.raises(AuthError, match="just issued"):
        search(client)
    assert client.logins == 2 and len(calls) == 4


@pytest.mark.parametrize("code,message", [(6001, "session_expired"), (5401, "invalid_credentials"),
                                          (1018, "incorrect_enter_token")])
def test_a_session_code_in_the_envelope_also_renews_the_token(code, message):
    expired = {"success": False, "errors": {"code": code, "message": message}}
    client, _, _ = make([httpx.Response(200, json=expired), httpx.Response(200, json=OK)])
    assert search(client) == OK["content"] and client.logins == 2


def test_a_401_with_the_documented_5401_body_renews_the_token_once():
    body = {"success": False, "errors": {"message": "invalid_credentials", "code": 5401, "details": None}}
    client, _, _ = make([httpx.Response(401, json=body), httpx.Response(200, json=OK)])
    assert search(client) == OK["content"] and client.logins == 2
    client, _, _ = make([httpx.Response(401, json=body)] * 2)
    with pytest.raises(AuthError, match="just issued"):
        search(client)


def test_searches_send_accept_validate_exception_and_other_calls_do_not():
    client, calls, _ = make([httpx.Response(200, json=OK), httpx.Response(200, json={"success": True,
                                                                                     "content": {}})])
    search(client)
    client.order_chat(5)
    by_path = {c.url.path: c for c in calls}
    assert by_path["/orders/search"].headers["Accept-Validate-Exception"] == "1"
    assert "Accept-Validate-Exception" not in by_path["/messages/5/order-chat"].headers
    assert by_path["/messages/5/order-chat"].url.params["expand"] == "messages"


def test_a_refused_static_token_says_how_to_get_a_new_one():
    client, calls, _ = make([httpx.Response(401, json={})], token="cabinet-token")
    with pytest.raises(AuthError, match="refused the API token") as caught:
        search(client)
    assert "Settings" in caught.value.hint and len(calls) == 1
    assert calls[0].headers["Authorization"] == "Bearer cabinet-token"


def test_business_errors_carry_code_message_and_details():
    refused = {"success": False, "errors": {"code": 1005, "message": "check_correctness_of_data",
                                            "details": {"status": ["Перехід в цей статус неможливий"]}}}
    client, _, _ = make([httpx.Response(200, json=refused)])
    with pytest.raises(PermanentError) as caught:
        client.update_order(1, {"status": 2})
    assert caught.value.details == {"status": ["Перехід в цей статус неможливий"]}
    assert "check_correctness_of_data" in caught.value.message and "Перехід в цей статус неможливий" in str(caught.value)


def test_a_write_whose_answer_was_lost_is_not_resent_by_the_client():
    client, calls, _ = make([httpx.ReadTimeout("answer lost")])
    with pytest.raises(TransientError) as caught:
        client.update_order(1, {"status": 26})
    assert caught.value.delivered and len([c for c in calls if c.method == "PUT"]) == 1


def test_a_write_that_never_connected_is_retried():
    client, calls, _ = make([httpx.ConnectError("refused"), httpx.Response(200, json=OK)])
    client.update_order(1, {"status": 26})
    assert len([c for c in calls if c.method == "PUT"]) == 2


def test_an_error_list_is_read_like_a_single_error():
    listed = {"success": False, "errors": [{"code": 1019, "message": "entity_not_found", "details": None}]}
    client, _, _ = make([httpx.Response(200, json=listed)])
    with pytest.raises(PermanentError) as caught:
        client.get_order(5, "status_data")
    assert caught.value.code == 1019 and "entity_not_found" in caught.value.message
