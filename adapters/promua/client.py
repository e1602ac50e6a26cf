"""HTTP client for Prom.ua's public API: the Bearer token, polite spacing, the body that decides, typed errors.

Everything Prom-specific about the wire lives here; the adapter above speaks in orders and steps.

- One request at a time per token, at least ``1 / requests_per_second`` apart (≥ 0.4 s: practitioners met HTTP 429
  with about ten parallel calls, reference §1.4); 429 waits for ``Retry-After`` when Prom sends one.
- HTTP 401/403 is an ``AuthError``: the token expired, was revoked, or lacks a section's rights. A person must act.
- HTTP 200 is not success. A write succeeded only when the body says so: ``processed_ids`` holding the order for
  ``set_status``, ``status: success`` for ``save_declaration_id``. An ``error`` key is a refusal, in Prom's words.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from adapters.base import (
    HttpPolicy,
    RequestSpacing,
    flatten_details,
    not_json,
    raise_for_overload,
    transport_error,
)
from adapters.promua import errors
from connector.errors import AuthError, PermanentError
from connector.logs import get_logger

log = get_logger(__name__)

PAGE_LIMIT = 100  # what every client uses; the documented maximum is not known (reference §2.1)


class PromClient:
    def __init__(self, base_url: str, *, token: str, policy: HttpPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, requests_per_second: float = 2.5,
                 sleep: Callable[[float], object] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not token:
            raise AuthError("Prom needs an API token", hint="set token_env or token_file for the account")
        self.policy = policy or HttpPolicy()
        self._http = self.policy.client(base_url.rstrip("/"), transport=transport,
                                        headers={"Accept": "application/json"})
        self._token = token
        self._spacing = RequestSpacing(requests_per_second, sleep, clock)  # one request at a time per token
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    # -- the API, one method per endpoint the connector uses ---------------------------------------------------

    def list_orders(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        body = self.call("GET", "/orders/list", params=params)
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list):
            raise PermanentError("Prom GET /orders/list answered without an orders list", details=str(body)[:500])
        return [o for o in orders if isinstance(o, dict)]

    def get_order(self, order_id: int | str) -> dict[str, Any]:
        """``{"order": {...}}`` unwrapped (one public SDK parses it as a bare order: a bug in that SDK)."""
        body = self.call("GET", f"/orders/{order_id}")
        order = body.get("order") if isinstance(body, dict) else None
        if not isinstance(order, dict):
            raise PermanentError(f"Prom GET /orders/{order_id} answered without an order", details=str(body)[:500])
        return order

    def set_status(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /orders/set_status`` for one order; success is the order in ``processed_ids``."""
        what = f"set_status {body.get('status') or body.get('custom_status_id')} for order {order_id}"
        answer = self.call("POST", "/orders/set_status", json={"ids": [order_id], **body})
        processed = answer.get("processed_ids") if isinstance(answer, dict) else None
        if isinstance(processed, list) and any(str(i) == str(order_id) for i in processed):
            return answer
        words = _words(answer) or "the order is not among processed_ids"
        raise PermanentError(f"Prom refused {what}: {words}", details=answer, hint=errors.hint_for(words))

    def save_declaration(self, order_id: int, declaration_id: str, delivery_type: str) -> str:
        """``POST /delivery/save_declaration_id``: "attached", or "already" when Prom says the order has it."""
        answer = self.call("POST", "/delivery/save_declaration_id",
                           json={"order_id": order_id, "declaration_id": declaration_id,
                                 "delivery_type": delivery_type})
        status = answer.get("status") if isinstance(answer, dict) else None
        if status == "success":
            return "attached"
        words = _words(answer) or "no status: success in the answer"
        if any(marker in words.casefold() for marker in errors.ALREADY_ATTACHED):
            return "already"
        raise PermanentError(f"Prom refused TTN {declaration_id} ({delivery_type}) for order {order_id}: {words}",
                             details=answer, hint=errors.HINTS["declaration"])

    # -- the envelope -----------------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, params: dict | None = None, json: dict | None = None) -> Any:
        """One API call with retries on transients: a read always, a write only if it never reached Prom."""
        return self.policy.call(lambda: self._send(method, path, params=params, json=json),
                                idempotent=method == "GET", sleep=self._sleep)

    def _send(self, method: str, path: str, *, params: dict | None, json: dict | None) -> Any:
        what = f"{method} {path}"
        headers = {"Authorization": f"Bearer {self._token}"}
        with self._spacing:
            try:
                response = self._http.request(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                raise transport_error(exc, f"Prom {what}") from exc
        if response.status_code in (401, 403):
            words = _words(_json_or_none(response)) or f"HTTP {response.status_code}"
            raise AuthError(f"Prom refused the API token on {what}: {words}", status=response.status_code,
                            hint=errors.AUTH_HINT)
        raise_for_overload(response, f"Prom {what}")
        body = _json_or_none(response)
        if response.status_code == 404:
            raise PermanentError(f"Prom {what}: not found (HTTP 404){': ' + _words(body) if _words(body) else ''}",
                                 status=404, hint="the order may belong to another shop, or the path is wrong")
        if body is None:
            raise not_json(response, f"Prom {what}")
        if response.status_code >= 400:
            raise PermanentError(f"Prom {what}: HTTP {response.status_code}: {_words(body) or str(body)[:200]}",
                                 status=response.status_code, details=body)
        if isinstance(body, dict) and body.get("error") and method == "GET":
            raise PermanentError(f"Prom {what}: {_words(body)}", details=body, hint=errors.hint_for(_words(body)))
        return body


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _words(body: Any) -> str:
    """Prom's own words in an answer: ``error``, ``message``, ``warning_message``, ``errors``."""
    if not isinstance(body, dict):
        return ""
    parts = []
    for key in ("error", "message", "warning_message"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
        elif isinstance(value, dict) and value.get("message"):
            parts.append(str(value["message"]))
    details = body.get("errors")
    if details:
        parts.append(flatten_details(details))
    return "; ".join(parts)
