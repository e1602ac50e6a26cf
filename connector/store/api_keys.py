"""API keys: made here, shown once, kept only as their SHA-256.

A key is 32 random bytes (``ck_`` and URL-safe base64): with that much entropy a plain SHA-256 cannot be reversed by
guessing, so no slow password hash is needed, and a key is found by its hash with one indexed look-up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import utcnow
from connector.errors import ConfigError
from connector.store.tables import ApiKeyRow

SCOPES = ("read", "write")
PREFIX = "ck_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewKey:
    row: ApiKeyRow
    key: str  # the only time it exists outside the client


def create(session: Session, name: str, scope: str) -> NewKey:
    if scope not in SCOPES:
        raise ConfigError(f"scope {scope!r} is not known", hint="read or write")
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise ConfigError("a key's name is 1 to 64 printable characters", hint="e.g. erp-prod")
    if session.exec(select(ApiKeyRow.id).where(ApiKeyRow.name == name)).first() is not None:
        raise ConfigError(f"there is already a key named {name!r}",
                             hint="pick another name, or revoke that one first")
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(name=name, key_sha256=digest(key), prefix=key[:10], scope=scope, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except sa.exc.IntegrityError:
        raise ConfigError(f"there is already a key named {name!r}", hint="pick another name") from None
    return NewKey(row, key)


def authenticate(session: Session, key: str) -> ApiKeyRow | None:
    """The live key this is, or None. Compared by hash: the key itself is never stored or looked up."""
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    return session.exec(select(ApiKeyRow).where(ApiKeyRow.key_sha256 == digest(key),
                                                ApiKeyRow.revoked_at.is_(None))).first()


def list_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.exec(select(ApiKeyRow).order_by(ApiKeyRow.id)).all())


def revoke(session: Session, name: str) -> ApiKeyRow:
    row = session.exec(select(ApiKeyRow).where(ApiKeyRow.name == name)).first()
    if row is None:
        raise ConfigError(f"no API key named {name!r}", hint="list them with `connector api-key list`")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


def key_json(row: ApiKeyRow) -> dict:
    return {"name": row.name, "scope": row.scope, "prefix": row.prefix, "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
