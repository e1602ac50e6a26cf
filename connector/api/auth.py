"""Who is calling: an API key from ``Authorization: Bearer <key>`` or ``X-API-Key``, looked up by its hash.

No key or an unknown (or revoked) one: 401. A read key on a write: 403. The key itself is never logged; the key's
name is, on every write.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from connector.store.api_keys import authenticate
from connector.store.tables import ApiKeyRow

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key> (`connector api-key create`)")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The key, as a header of its own")


def _caller(request: Request, bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
            header: str | None = Depends(_header)) -> ApiKeyRow:
    key = bearer.credentials if bearer else header
    if not key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail={"error": "no API key",
                            "hint": "send Authorization: Bearer <key>; make one with `connector api-key create`"},
                            headers={"WWW-Authenticate": "Bearer"})
    with request.app.state.store.reading() as session:
        row = authenticate(session, key)
    if row is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail={"error": "unknown or revoked API key"},
                            headers={"WWW-Authenticate": "Bearer"})
    return row


def scope(needed: str) -> Callable[..., ApiKeyRow]:
    """A dependency that lets through keys with ``needed`` (a write key may read too)."""

    def check(key: ApiKeyRow = Depends(_caller)) -> ApiKeyRow:
        if needed == "write" and key.scope != "write":
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail={
                "error": f"the key {key.name!r} may only read",
                "hint": "use a key made with `connector api-key create NAME --scope write`"})
        return key

    return check


reader = scope("read")
writer = scope("write")
