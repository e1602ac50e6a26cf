"""HTTP client for Ukrposhta's StatusTracking API: a bearer token, plain REST, errors as HTTP statuses.

Tracking uses the StatusTracking token of the seller's contract, not the eCom one, and no counterparty ``token``
parameter (shared reference §8; sashalenz/ukrpost-api). The connector needs one call: ``POST
statuses/with-not-found``. It takes a JSON array of barcodes and answers every event of each (``found``, keyed by
barcode) and the barcodes it does not know (``notFound``): the whole timeline of a batch in one request. The
last-status twin (``statuses/last/with-not-found``) answers one event per barcode, so the tracking job would
have to rebuild the history itself and would miss events between two runs (a return's 31200 before its 41000, the
time of delivery); the one-barcode GETs cost a request each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from adapters.base import HttpPolicy, not_json, raise_for_overload, transport_error
from connector.errors import AuthError, PermanentError

HISTORY = "statuses/with-not-found"
TOKEN_HINT = ("check the carrier's api_key: it must be the StatusTracking bearer token of the Ukrposhta contract "
              "(each sub-API, eCom and StatusTracking, has its own)")


@dataclass(frozen=True, slots=True)
class Histories:
    """``found``: barcode → its events as Ukrposhta sent them; ``not_found``: the barcodes it does not know."""

    found: dict[str, Any]
    not_found: list[str]


class UkrposhtaClient:
    def __init__(self, base_url: str, token: str, *, policy: HttpPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if not token:
            raise AuthError("Ukrposhta needs the StatusTracking bearer token", hint=TOKEN_HINT)
        self.policy = policy or HttpPolicy()
        self._http = self.policy.client(base_url, transport=transport,
                                        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def histories(self, barcodes: Sequence[str]) -> Histories:
        """Every event of each barcode, in one request (a read: retried on transient failures)."""
        return self.policy.call(lambda: self._histories(list(barcodes)), idempotent=True, sleep=self._sleep)

    def _histories(self, barcodes: list[str]) -> Histories:
        what = f"Ukrposhta POST {HISTORY}"
        try:
            response = self._http.post(HISTORY, json=barcodes)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        raise_for_overload(response, what)
        body = _json(response)
        if response.status_code in (401, 403):
            raise AuthError(f"{what}: HTTP {response.status_code}: {_message(body)}", status=response.status_code,
                            code=_code(body), details=body, hint=TOKEN_HINT)
        if response.status_code >= 300:
            raise PermanentError(f"{what}: HTTP {response.status_code}: {_message(body)}",
                                 status=response.status_code, code=_code(body), details=body)
        if body is _NOT_JSON:
            # Cut short or not JSON at all: a read, so asking again is safe.
            raise not_json(response, what)
        if not isinstance(body, dict) or not isinstance(body.get("found", {}), dict) \
                or not isinstance(body.get("notFound", []), list):
            raise PermanentError(f"{what}: unexpected answer (no found/notFound)", status=response.status_code,
                                 details=str(body)[:500])
        return Histories(dict(body.get("found") or {}), [str(b) for b in body.get("notFound") or []])


_NOT_JSON = object()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _fields(body: Any) -> dict[str, Any]:
    """Error bodies: ``{code, message}`` (read so by a public client) or the API gateway's ``{fault: {...}}``."""
    if isinstance(body, dict):
        return body["fault"] if isinstance(body.get("fault"), dict) else body
    return {}


def _message(body: Any) -> str:
    fields = _fields(body)
    return str(fields.get("message") or fields.get("description") or "refused")


def _code(body: Any) -> str | None:
    code = _fields(body).get("code")
    return None if code is None else str(code)
