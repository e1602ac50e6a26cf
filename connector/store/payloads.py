"""Raw payloads at rest: a body is kept zlib-compressed when that pays, as plain text when it is small.

A row holds its body in one of two columns: ``body_z`` (zlib of the UTF-8, ``body`` left empty) or ``body`` (the
text as received, ``body_z`` NULL). Rows written before compression existed have only ``body`` and read as they are,
so nothing is rewritten. The sha256 is always that of the text as received: deduplication compares versions of an
order, never their compressed form, and a body compressed differently later still counts as the same version.

Every reader and writer of ``RawPayloadRow.body`` goes through ``payload_columns`` and ``read_payload``.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any, Protocol

from connector.domain import RawPayload

# Below this many bytes zlib's header and a short text's few repeats gain next to nothing; above it text shrinks
# (a marketplace order's JSON is 4 to 8 KB and shrinks to about 30%).
COMPRESS_FROM = 256
LEVEL = 6  # zlib's default: levels 7-9 gain < 1% on order JSON, level 1 loses ~10%


class StoredPayload(Protocol):
    """A raw_payloads row as the ORM or a Core select returns it."""

    content_type: str
    body: str
    body_z: bytes | None


def payload_columns(raw: RawPayload, order_id: int, received_at: datetime) -> dict[str, Any]:
    """The column values of a new raw_payloads row; every row has the same keys, for executemany."""
    data = raw.body.encode()
    packed = zlib.compress(data, LEVEL) if len(data) >= COMPRESS_FROM else None
    return {"order_id": order_id, "received_at": received_at, "content_type": raw.content_type,
            "sha256": raw.sha256, "body": "" if packed else raw.body, "body_z": packed}


def read_payload(row: StoredPayload) -> RawPayload:
    body = row.body if row.body_z is None else zlib.decompress(row.body_z).decode()
    return RawPayload(body, row.content_type)
