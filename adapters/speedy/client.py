"""HTTP client for Speedy's web API ``/track``: the login inside the JSON body, Speedy's Error object.

``POST {base}/track`` with ``{userName, password, language, parcels: [{id}], lastOperationOnly}`` (reference §2.2).
Credentials travel in the body, never as HTTP Basic or in a URL (one SDK had to fix exactly that). Speedy answers
errors as a JSON ``error`` on HTTP 200 (clients check it there); anything non-2xx is treated as a transport failure
(inferred): 429/5xx are transient, 401/403 a refused login, the rest a refused request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from adapters.base import HttpPolicy, raise_for_overload, read_json, transport_error
from adapters.speedy import errors
from connector.errors import AuthError, PermanentError, TransientError

TRACK_PATH = "/track"


class SpeedyClient:
    def __init__(self, base_url: str, *, username: str, password: str, language: str = "EN",
                 policy: HttpPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not (username and password):
            raise AuthError("Speedy needs a userName and password", hint=errors.HINTS["auth"])
        self.policy = policy or HttpPolicy()
        self._http = self.policy.client(base_url, transport=transport, headers={"Accept": "application/json"})
        self._username, self._password, self.language = username, password, language
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def track(self, ids: list[str], *, last_operation_only: bool = False) -> dict[str, Any]:
        """The decoded ``TrackResponse``: one request, retried on transient failures (tracking is a read)."""
        body = {"userName": self._username, "password": self._password, "language": self.language,
                "parcels": [{"id": i} for i in ids], "lastOperationOnly": last_operation_only}
        return self.policy.call(lambda: self._send(body), idempotent=True, sleep=self._sleep)

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        what = "Speedy track"
        try:
            response = self._http.post(TRACK_PATH, json=body,
                                       headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        raise_for_overload(response, what)
        payload = read_json(response, what, auth_hint=errors.HINTS["auth"])
        error = payload.get("error") if isinstance(payload, dict) else None
        if error:
            raise self._error(what, error, response.status_code)
        if not response.is_success or not isinstance(payload, dict) or not isinstance(payload.get("parcels"), list):
            raise PermanentError(f"{what}: unexpected answer [HTTP {response.status_code}]: {str(payload)[:200]}",
                                 status=response.status_code)
        return payload

    def _error(self, what: str, error: Any, status: int) -> Exception:
        err = error if isinstance(error, dict) else {"message": str(error)}
        code, component = err.get("code"), err.get("component")
        text = f"{what}: {err.get('message') or 'error'} (code {code}" + (f", {component}" if component else "") \
            + (f", id {err['id']}" if err.get("id") else "") + ")"
        if errors.is_auth(code, component):
            return AuthError(text, code=code, details=err, status=status, hint=errors.HINTS["auth"])
        if code in errors.TRANSIENT_CODES:
            return TransientError(text, code=code, details=err, status=status)
        hint = errors.HINTS["parcels"] if str(component or "").lstrip("$.").startswith("parcels") else None
        return PermanentError(text, code=code, details=err, status=status, hint=hint)
