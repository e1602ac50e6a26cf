"""HTTP client for the Rozetka Seller API: auth, the success/errors envelope, typed errors, bounded retries.

Everything Rozetka-specific about the wire lives here; the adapter above speaks in orders and steps.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import httpx

from adapters.base import HttpPolicy, flatten_details, not_json, raise_for_overload, transport_error
from adapters.rozetka import errors
from connector.errors import AuthError, PermanentError, RemoteError, TransientError
from connector.logs import get_logger

log = get_logger(__name__)

TOKEN_TTL = 23 * 3600  # tokens live 24 h by every client's account; renew before Rozetka expires them

# On */search the apiDoc lists this header to receive validation errors; without it (or with 0) a filter Rozetka
# rejects is dropped and the search answers unfiltered. An incremental pull would take that list for the whole
# window, so every search asks for the error instead.
VALIDATE = {"Accept-Validate-Exception": "1"}


class _StaleToken(Exception):
    """HTTP 401 or a session code: the token must be renewed (internal: never leaves this module)."""


class RozetkaClient:
    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        language: str = "uk",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token and not (username and password):
            raise AuthError("Rozetka needs an API token or a username and password",
                            hint="set token_env, or username and password_env, for the account")
        self.policy = policy or HttpPolicy()
        self._http = self.policy.client(base_url, transport=transport,
                                        headers={"Content-Language": language, "Accept": "application/json"})
        self._username, self._password = username, password
        self._static_token = token
        self._token: str | None = token
        self._token_at = clock()
        self._clock, self._sleep = clock, sleep
        self.logins = 0  # how many times this client logged in (tests and metrics read it)

    def close(self) -> None:
        self._http.close()

    # -- the API, one method per endpoint the connector uses ---------------------------------------------------

    def search_orders(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.call("GET", "/orders/search", params=params, headers=VALIDATE)

    def get_order(self, order_id: int | str, expand: str) -> dict[str, Any]:
        return self.call("GET", f"/orders/{order_id}", params={"expand": expand})

    def update_order(self, order_id: int | str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("PUT", f"/orders/{order_id}", json=body)

    def order_chat(self, order_id: int | str) -> dict[str, Any]:
        """The order's chat with its messages: ``messages`` is an expand field, absent unless asked for."""
        return self.call("GET", f"/messages/{order_id}/order-chat", params={"expand": "messages"})

    def create_message(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/messages/create", json=body)

    # -- auth -------------------------------------------------------------------------------------------------

    def login(self) -> str:
        """``POST /sites``; the password goes base64-encoded ("Пароль в base64()"). Logging in twice is harmless,
        so the login is retried like a read."""
        assert self._username and self._password
        encoded = base64.b64encode(self._password.encode()).decode()
        content = self._send("POST", "/sites", json={"username": self._username, "password": encoded},
                             token=None, during_login=True)
        token = content.get("access_token") if isinstance(content, dict) else None
        if not token:
            raise PermanentError("Rozetka's login answered without an access_token", details=content)
        self._token, self._token_at = token, self._clock()
        self.logins += 1
        log.info("rozetka login", username=self._username)
        return token

    def _valid_token(self) -> str:
        if self._static_token:
            return self._static_token
        if self._token is None or self._clock() - self._token_at > TOKEN_TTL:
            return self.login()
        return self._token

    # -- the envelope -----------------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, params: dict | None = None, json: dict | None = None,
             headers: dict[str, str] | None = None) -> Any:
        """One API call: a valid token, one re-login if Rozetka says the token is stale, retries on transients."""

        def attempt() -> Any:
            try:
                return self._send(method, path, params=params, json=json, token=self._valid_token(),
                                  headers=headers)
            except _StaleToken:
                if self._static_token:
                    raise AuthError("Rozetka refused the API token", code=401,
                                    hint="generate a new token in the cabinet (Settings → API security); tokens "
                                         "unused for 24 h are deactivated") from None
                self._token = None
                try:
                    return self._send(method, path, params=params, json=json, token=self._valid_token(),
                                      headers=headers)
                except _StaleToken:
                    raise AuthError("Rozetka refused a token it had just issued", code=401,
                                    hint="check that the account may use the Seller API") from None

        return self.policy.call(attempt, idempotent=method == "GET", sleep=self._sleep)

    def _send(self, method: str, path: str, *, params: dict | None = None, json: dict | None = None,
              token: str | None, during_login: bool = False, headers: dict[str, str] | None = None) -> Any:
        what = f"{method} {path}"
        sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        try:
            response = self._http.request(method, path, params=params, json=json, headers=sent)
        except httpx.TransportError as exc:
            raise transport_error(exc, f"Rozetka {what}") from exc
        if response.status_code == 401 and not during_login:
            raise _StaleToken()
        raise_for_overload(response, f"Rozetka {what}")
        try:
            body = response.json()
        except ValueError:
            raise not_json(response, f"Rozetka {what}") from None
        if not isinstance(body, dict) or "success" not in body:
            raise PermanentError(f"Rozetka {what}: unexpected envelope", status=response.status_code,
                                 details=str(body)[:500])
        if body["success"]:
            return body.get("content")
        raise self._error(what, body.get("errors"), response.status_code, during_login)

    def _error(self, what: str, err: Any, status: int, during_login: bool) -> Exception:
        if isinstance(err, list) and err and isinstance(err[0], dict):
            err = err[0]  # some endpoints answer a list of error objects (seen in a public client)
        err = err if isinstance(err, dict) else {"message": str(err)}
        code, message, details = err.get("code"), err.get("message", ""), err.get("details")
        text = f"Rozetka {what}: {message or 'error'} (code {code})" + (
            f": {flatten_details(details)}" if details else "")
        hint = errors.HINTS.get(code)
        if code in errors.RELOGIN and not during_login:
            return _StaleToken()
        if code in errors.AUTH or code in errors.RELOGIN:
            return AuthError(text, code=code, details=details, status=status, hint=hint)
        if code in errors.TRANSIENT:
            return TransientError(text, code=code, details=details, status=status, hint=hint)
        return PermanentError(text, code=code, details=details, status=status, hint=hint)



__all__ = ["RemoteError", "RozetkaClient"]
