"""HTTP client for Nova Poshta's JSON API v2.0: one POST endpoint, the key in the body, errors inside HTTP 200.

Everything Nova Poshta-specific about the wire lives here (shared reference §1, §5): the
``{apiKey, modelName, calledMethod, methodProperties}`` envelope, the ``success``/``errors``/``errorCodes`` answer,
warnings as strings or as objects keyed by document, and an answer nested in a top-level list (one PHP client saw
it). The adapter above speaks in parcels.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from adapters.base import HttpPolicy, raise_for_overload, read_json, transport_error
from adapters.novaposhta import errors
from connector.errors import AuthError, PermanentError, TransientError
from connector.logs import get_logger

log = get_logger(__name__)

KYIV = ZoneInfo("Europe/Kyiv")
MAX_DOCUMENTS = 100  # "Метод дозволяє переглядати одночасно до 100 відправлень" (documented)
_RATE_WORDS = re.compile(r"\bto+ many requests\b|занадто багато запитів", re.IGNORECASE)
_INVALID_NUMBER = re.compile(r"Invalid DocumentNumber:\s*(\S+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: the ``data`` records and the warnings, flattened to ``(document or "", text)``."""

    data: list[Any]
    warnings: list[tuple[str, str]] = field(default_factory=list)


class BadNumbers(PermanentError):
    """Nova Poshta refused the whole batch over numbers it names (``Invalid DocumentNumber: <n>`` warnings)."""

    def __init__(self, message: str, *, numbers: tuple[str, ...], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.numbers = numbers


class _DailyQuota(Exception):
    """The daily limit: retrying within a run cannot help, so it passes the retry policy untouched (internal)."""

    def __init__(self, error: TransientError) -> None:
        super().__init__(str(error))
        self.error = error


class NovaPoshtaClient:
    def __init__(self, base_url: str, api_key: str, *, policy: HttpPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if not api_key:
            raise AuthError("Nova Poshta needs the seller's API key",
                            hint="set the carrier's api_key; without one NP hides return-delivery and other data")
        self.policy = policy or HttpPolicy()
        # The documented endpoint is the root itself ("…/v2.0/json/"): keep its trailing slash, post to "".
        self._http = self.policy.client(base_url, transport=transport, headers={"Accept": "application/json"})
        self._key = api_key
        self._sleep, self._clock = sleep, clock

    def close(self) -> None:
        self._http.close()

    # -- the API ----------------------------------------------------------------------------------------------

    def status_documents(self, documents: Sequence[tuple[str, str]]) -> Answer:
        """``TrackingDocument.getStatusDocuments`` for ``(number, phone)`` pairs, at most 100 of them."""
        if len(documents) > MAX_DOCUMENTS:
            raise ValueError(f"Nova Poshta takes at most {MAX_DOCUMENTS} documents per call, not {len(documents)}")
        props = {"Documents": [{"DocumentNumber": number, "Phone": phone} for number, phone in documents]}
        return self.call("TrackingDocument", "getStatusDocuments", props)

    def call(self, model: str, method: str, properties: dict[str, Any]) -> Answer:
        """One API call, retried on transient failures (every NP call the connector makes is a read)."""
        body = {"apiKey": self._key, "modelName": model, "calledMethod": method, "methodProperties": properties}
        what = f"Nova Poshta {model}.{method}"
        try:
            return self.policy.call(lambda: self._send(body, what), idempotent=True, sleep=self._sleep)
        except _DailyQuota as quota:
            raise quota.error from None

    # -- the envelope -----------------------------------------------------------------------------------------

    def _send(self, body: dict[str, Any], what: str) -> Answer:
        try:
            response = self._http.post("", json=body)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        raise_for_overload(response, what)
        # 401/403: one PHP client maps a 401 to "API auth fail" (reference §1); a body that is not JSON: the request
        # was a read, so asking again is safe.
        payload = read_json(response, what, auth_hint=errors.HINTS["20000200068"])
        if response.status_code >= 300:
            raise PermanentError(f"{what}: HTTP {response.status_code}", status=response.status_code,
                                 details=str(payload)[:500])
        envelope = _unwrap(payload)
        if envelope is None:
            raise PermanentError(f"{what}: unexpected answer (no success flag)", status=response.status_code,
                                 details=str(payload)[:500])
        warnings = flatten_warnings(envelope.get("warnings"))
        if _truthy(envelope.get("success")):
            data = envelope.get("data")
            return Answer(data if isinstance(data, list) else [], warnings)
        raise self._error(what, envelope, warnings)

    def _error(self, what: str, envelope: dict[str, Any], warnings: list[tuple[str, str]]) -> Exception:
        texts = [str(e) for e in _as_list(envelope.get("errors")) if str(e).strip()]
        codes = [str(c).strip() for c in _as_list(envelope.get("errorCodes")) if str(c).strip()]
        code = next((c for c in codes if c in errors.HINTS), codes[0] if codes else None)
        message = f"{what}: {'; '.join(texts) or 'refused'}" + (f" (code {', '.join(codes)})" if codes else "")
        details = {"errors": texts, "errorCodes": codes, "warnings": [text for _, text in warnings]}
        found = set(codes)
        if found & errors.AUTH:
            return AuthError(message, code=code, details=details, hint=errors.HINTS.get(code))
        # Codes decide; only an answer without any code is read by its words ("To many requests", sic).
        if found & errors.RATE_LIMIT or (not codes and any(_RATE_WORDS.search(t) for t in texts)):
            return TransientError(message, code=code, details=details, delivered=False,
                                  hint=errors.HINTS["20000401501"])
        if found & errors.QUOTA:
            return _DailyQuota(TransientError(message, code=code, details=details, delivered=False,
                                              retry_after=self._until_kyiv_midnight(),
                                              hint=errors.HINTS["20000501331"]))
        if found & errors.TRANSIENT:
            return TransientError(message, code=code, details=details,
                                  hint="Nova Poshta's tracking service failed; retried with backoff")
        bad = tuple(m[1] for _, text in warnings if (m := _INVALID_NUMBER.search(text)))
        if found & errors.BAD_NUMBER or bad:
            return BadNumbers(message, numbers=bad, code=code, details=details, hint=errors.HINTS["20001401442"])
        return PermanentError(message, code=code, details=details, hint=errors.HINTS.get(code))

    def _until_kyiv_midnight(self) -> float:
        now = self._clock().astimezone(KYIV)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight - now).total_seconds()


def _unwrap(payload: Any) -> dict[str, Any] | None:
    """The envelope, also when it arrives as the only item of a top-level list (seen in a public client)."""
    if isinstance(payload, list) and payload and isinstance(payload[0], dict) and "success" in payload[0]:
        payload = payload[0]
    return payload if isinstance(payload, dict) and "success" in payload else None


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1")


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else [value]


def flatten_warnings(value: Any) -> list[tuple[str, str]]:
    """Warnings come as strings or as objects keyed ``ID_<document>`` (reference §1): → ``(document, text)``."""
    flat: list[tuple[str, str]] = []
    for item in _as_list(value) if not isinstance(value, dict) else [value]:
        if isinstance(item, dict):
            for key, text in item.items():
                key = str(key)
                flat.append((key[3:] if key.upper().startswith("ID_") else key, str(text)))
        elif str(item).strip():
            flat.append(("", str(item)))
    return flat
