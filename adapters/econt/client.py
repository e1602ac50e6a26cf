"""HTTP client for Econt's shipment-status service: HTTP Basic, one POST per batch, Econt's Error object.

``POST {base}/Shipments/ShipmentService.getShipmentStatuses.json`` with ``{"shipmentNumbers": [...]}`` (reference
§1.2; only POST is accepted). The login goes as HTTP Basic on every call; Econt's tracking may work without one
(unverified), but an account's errors are better found on the first call than on the day Econt starts checking.

Everything about the wire lives here; the adapter speaks in parcels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from adapters.base import HttpPolicy, not_json, raise_for_overload, refused_login, transport_error
from adapters.econt import errors
from adapters.econt.errors import flatten
from connector.errors import AuthError, PermanentError, TransientError

STATUSES_PATH = "/Shipments/ShipmentService.getShipmentStatuses.json"


class EcontClient:
    def __init__(self, base_url: str, *, username: str, password: str, policy: HttpPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if not (username and password):
            raise AuthError("Econt needs a username and password", hint=errors.HINTS["auth"])
        self.policy = policy or HttpPolicy()
        self._http = self.policy.client(base_url, transport=transport, auth=httpx.BasicAuth(username, password),
                                        headers={"Accept": "application/json"})
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def shipment_statuses(self, numbers: list[str]) -> dict[str, Any]:
        """The decoded answer, ``{"shipmentStatuses": [...]}``: one request, retried on transient failures (a read)."""
        return self.policy.call(lambda: self._send({"shipmentNumbers": numbers}), idempotent=True, sleep=self._sleep)

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        what = "Econt getShipmentStatuses"
        try:
            response = self._http.post(STATUSES_PATH, json=body)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        raise_for_overload(response, what)
        try:
            payload = response.json()
        except ValueError:
            # Econt's own order: a 401/403 with a JSON body is its Error object, read below for its words.
            if response.status_code in errors.AUTH_STATUSES:
                raise refused_login(response, what, errors.HINTS["auth"]) from None
            # A cut or garbled answer: the next attempt may get it whole.
            raise not_json(response, what) from None
        if response.is_success and isinstance(payload, dict) and isinstance(payload.get("shipmentStatuses"), list):
            return payload
        # A failed call: the whole body is Econt's Error object, on a non-2xx status or not (both happen: §1.5).
        raise self._error(what, payload, response.status_code)

    def _error(self, what: str, payload: Any, status: int) -> Exception:
        err = payload if isinstance(payload, dict) else {}
        error_type = err.get("type") if isinstance(err.get("type"), str) else None
        fields = [str(f) for f in err.get("fields") or [] if f is not None]
        words = "; ".join(flatten(err)) or (str(payload)[:200] if payload else "no detail")
        text = f"{what}: {words}" + (f" ({error_type})" if error_type else "") + f" [HTTP {status}]"
        if status in errors.AUTH_STATUSES or errors.is_auth(error_type, fields):
            return AuthError(text, code=error_type, status=status, details=err or None, hint=errors.HINTS["auth"])
        if error_type in errors.TRANSIENT_TYPES:
            return TransientError(text, code=error_type, status=status, details=err)
        if not err:
            return PermanentError(f"{what}: unexpected answer [HTTP {status}]: {str(payload)[:200]}", status=status)
        return PermanentError(text, code=error_type, status=status, details=err, hint=errors.HINTS.get(error_type))

