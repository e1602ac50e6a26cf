"""Per (account, stream) sync cursors: read at the start of a pull, written only with the page that earns them."""

from __future__ import annotations

from sqlmodel import Session

from connector.domain import utcnow
from connector.store.tables import SyncCursorRow


def read_cursor(session: Session, account: str, stream: str) -> str | None:
    row = session.get(SyncCursorRow, (account, stream))
    return row.value if row else None


def write_cursor(session: Session, account: str, stream: str, value: str) -> None:
    row = session.get(SyncCursorRow, (account, stream))
    if row is None:
        session.add(SyncCursorRow(account=account, stream=stream, value=value, updated_at=utcnow()))
    elif row.value != value:  # an idle pull that earned the same cursor writes nothing
        row.value, row.updated_at = value, utcnow()
