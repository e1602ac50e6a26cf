"""HTTP client for Chopni's seller panel (OpenCart 2 + MultiMerch): the login form and its session cookie, the
orders table's JSON, the order page, the change-status and message posts.

This is a web panel, not an API, so the client is polite: one request at a time per account, at most
``requests_per_second``. An expired session shows as a redirect to the login page (or a page where data was
expected) and is renewed once, never in a loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from lxml import html as lxml_html

from adapters.base import HttpPolicy, RequestSpacing, raise_for_overload, transport_error
from connector.errors import AuthError, PermanentError, TransientError
from connector.logs import get_logger

log = get_logger(__name__)

# The DataTables columns of the orders table, in the panel's order (reference §4.2).
COLUMNS = ("order_id", "suborder_status", "date_created", "customer_name", "products", "total_amount", "view_order")
BROWSER_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LANGUAGE = "en-GB,en;q=0.9"  # statuses come back in the session's language: pin English


class _SessionGone(Exception):
    """A redirect to the login page, or a page where data was expected (internal)."""


class NotOurs(PermanentError):
    """The panel redirected away from an order: it does not exist, or holds none of this seller's products."""


class ChopniClient:
    def __init__(self, base_url: str, *, email: str, password: str, policy: HttpPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, requests_per_second: float = 2.0,
                 sleep: Callable[[float], object] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or HttpPolicy()
        self._http = self.policy.client(base_url, transport=transport, headers={"Accept-Language": LANGUAGE})
        self._email, self._password = email, password
        self._spacing = RequestSpacing(requests_per_second, sleep, clock)  # bounded concurrency of 1 per account
        self._sleep = sleep
        self._logged_in = False
        self._verified = False  # the account's seller panel was seen once: later re-logins skip the check
        self._seller_id: str | None = None
        self.logins = 0

    def close(self) -> None:
        self._http.close()

    # -- the panel ---------------------------------------------------------------------------------------------

    def list_orders(self, start: int, length: int) -> dict[str, Any]:
        """One page of the orders table, newest order first. Both offset and length are always sent: without a
        length the panel returns every order at once."""
        params: dict[str, Any] = {"route": "seller/account-order/getTableData", "iDisplayStart": start,
                                  "iDisplayLength": length, "iSortCol_0": 0, "sSortDir_0": "desc",
                                  "iColumns": len(COLUMNS)}
        params |= {f"mDataProp_{i}": c for i, c in enumerate(COLUMNS)} | {f"sSearch_{i}": "" for i in range(7)}
        return self._call("GET", params, ajax=True, parse=_table)

    def order_page(self, order_id: str) -> str:
        return self._call("GET", {"route": "seller/account-order/viewOrder", "order_id": order_id},
                          not_ours=True, parse=_order_page)

    def seller_id(self) -> str:
        """The logged-in seller's own id, which the conversation route wants: read once from the orders table's
        raw columns (the panel shows it nowhere else before a conversation is open)."""
        if self._seller_id is None:
            rows = self.list_orders(0, 1)["aaData"]
            self._seller_id = str(rows[0].get("seller_id", "")) if rows and isinstance(rows[0], dict) else ""
        return self._seller_id

    def conversation(self, order_id: str, seller_id: str) -> str:
        return self._call("GET", {"route": "multimerch/account_order/sellerOrderConversation",
                                  "order_id": order_id, "seller_id": seller_id}, parse=lambda r: r.text)

    def add_history(self, suborder_id: str, status_id: str, comment: str) -> None:
        """One history row: a status change and/or a comment. The panel answers an empty 200 whether it wrote the
        row or silently ignored it, and e-mails the buyer every time it writes: the caller confirms by re-reading,
        and never re-sends without re-reading first."""
        self._call("POST", {"route": "seller/account-order/jxAddHistory"}, write=True,
                   data={"suborder_id": suborder_id, "order_comment": comment, "order_status": status_id})

    def send_message(self, order_id: str, suborder_id: str, seller_id: str, text: str) -> dict[str, Any]:
        response = self._call("POST", {"route": "account/msmessage/jxSendOrderMessage"}, write=True, ajax=True,
                              data={"order_id": order_id, "suborder_id": suborder_id, "seller_id": seller_id,
                                    "ms-message-text": text})
        try:
            body = response.json() if response.text.strip() else {}
        except ValueError:
            # the post was handled, its answer came back broken: the caller looks at the conversation first
            raise TransientError(f"Chopni's message post answered with a body that is not JSON "
                                 f"({response.text[:80]!r})") from None
        if isinstance(body, dict) and body.get("errors"):
            raise PermanentError("Chopni refused the message: " + "; ".join(map(str, body["errors"])),
                                 details=body["errors"])
        if not (isinstance(body, dict) and body.get("success")):
            raise PermanentError("Chopni did not confirm the message (messaging may be off for this order)",
                                 details=response.text[:500])
        return body

    # -- session -----------------------------------------------------------------------------------------------

    def login(self, *, verify_seller: bool = True) -> None:
        """The login form; success is a redirect away from it. Then, once, that the account is a seller."""
        self._send("GET", {"route": "account/login"})
        response = self._send("POST", {"route": "account/login"}, data={"email": self._email,
                                                                         "password": self._password})
        if response.status_code != 302 or "account/login" in response.headers.get("location", ""):
            alert = _alert(response.text) or f"HTTP {response.status_code} without a redirect"
            raise AuthError(f"Chopni refused the login for {self._email}: {alert}",
                            hint="check the account's email and password (password_env); after too many failed "
                                 "attempts Chopni locks the login for an hour")
        if verify_seller:
            check = self._send("GET", {"route": "seller/account-order"})
            if "account/login" in check.headers.get("location", ""):
                raise _SessionGone()  # the new session was lost on the way: try once more
            if check.status_code != 200:
                raise AuthError(f"{self._email} logged in but has no seller panel",
                                hint="the account must be an approved Chopni seller")
            self._verified = True
        self._logged_in = True
        self.logins += 1
        log.info("chopni login", email=self._email)

    def _call(self, method: str, params: dict, *, data: dict | None = None, write: bool = False,
              ajax: bool = False, not_ours: bool = False, parse: Callable[[httpx.Response], Any] | None = None) -> Any:
        """One panel request, with one re-login if the session is gone and retries on transients (reads only).
        ``parse`` runs inside the attempt, so a body that is broken or is the login page counts like a failed
        request."""
        parse = parse or (lambda response: response)

        def attempt() -> Any:
            for fresh in (False, True):  # the session as it is, then once with a new login: never a loop
                try:
                    if fresh or not self._logged_in:
                        self._logged_in = False
                        self.login(verify_seller=not self._verified)
                    return parse(self._checked(method, params, data, ajax, not_ours))
                except _SessionGone:
                    continue
            raise AuthError("Chopni ended a session it had just opened",
                            hint="check that the account may use the seller panel")

        return self.policy.call(attempt, idempotent=not write, sleep=self._sleep)

    def _checked(self, method: str, params: dict, data: dict | None, ajax: bool, not_ours: bool) -> httpx.Response:
        response = self._send(method, params, data=data, ajax=ajax)
        if response.status_code in (301, 302, 303):
            target = response.headers.get("location", "")
            if "account/login" in target:
                raise _SessionGone()
            if not_ours and "seller/account-order" in target:
                raise NotOurs(f"Chopni has no order {params.get('order_id')} for this seller",
                              hint="the order may belong to another seller, or no longer exist")
            raise PermanentError(f"Chopni redirected {params.get('route')} to {target}")
        return response

    def _send(self, method: str, params: dict, *, data: dict | None = None, ajax: bool = False) -> httpx.Response:
        headers = {"Accept": "application/json, text/javascript, */*; q=0.01" if ajax else BROWSER_HTML}
        if ajax:
            headers["X-Requested-With"] = "XMLHttpRequest"
        with self._spacing:
            try:
                response = self._http.request(method, "/index.php", params=params, data=data, headers=headers)
            except httpx.TransportError as exc:
                raise transport_error(exc, f"Chopni {method} {params.get('route')}") from exc
        raise_for_overload(response, f"Chopni {params.get('route')}")
        return response


def _table(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        if "<html" in response.text[:500].lower() or "<form" in response.text.lower():
            raise _SessionGone() from None  # a page where JSON was expected: the login form
        raise TransientError("Chopni's orders table answered with a body that is not JSON "
                             f"({response.text[:80]!r})") from None
    if not isinstance(data, dict) or not isinstance(data.get("aaData"), list):
        raise PermanentError("Chopni's orders table answered without aaData", details=str(data)[:500])
    return data


def _order_page(response: httpx.Response) -> str:
    text = response.text
    if "ms-account-order-info" not in text and 'name="password"' in text:
        raise _SessionGone()
    # A page cut short may still hold the order block and parse into an order missing its history or totals: only
    # a page that ends is read. A GET changes nothing, so reading it again is safe.
    if "</html>" not in text[-4096:].lower():
        raise TransientError("Chopni's order page arrived cut short (no closing </html>)")
    return text


def _alert(page: str) -> str:
    try:
        alerts = lxml_html.fromstring(page).xpath('//*[contains(@class, "alert-danger")]')
    except (ValueError, lxml_html.etree.ParserError):
        return ""
    return " ".join(alerts[0].text_content().split()) if alerts else ""



def dumps(row: dict[str, Any], page: str) -> str:
    """One order's raw payload: the list row (with the raw columns it leaks) and the order page's HTML."""
    return json.dumps({"list_row": row, "order_page": page}, ensure_ascii=False, sort_keys=True)
