"""Re-derive canonical statuses from stored raw payloads (after a mapping change), without pulling again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import select

from adapters.base import PulledOrder
from connector.domain import RawPayload
from connector.store import Store
from connector.store.orders import latest_raw, remap
from connector.store.tables import OrderRow


@dataclass
class RemapSummary:
    checked: int = 0
    changed: list[str] = field(default_factory=list)  # "account:external_id old → new (outcome)"
    unparsed: list[str] = field(default_factory=list)


def remap_account(store: Store, account: str, mapper: Callable[[RawPayload], PulledOrder],
                  on_order: Callable[[], None] | None = None) -> RemapSummary:
    summary = RemapSummary()
    with store.transaction() as session:
        ids = list(session.exec(select(OrderRow.id).where(OrderRow.account == account).order_by(OrderRow.id)))
    for order_id in ids:
        with store.transaction() as session:
            row = session.get(OrderRow, order_id)
            raw = latest_raw(session, order_id)
            summary.checked += 1
            if raw is not None:
                pulled = mapper(raw)
                if pulled.order is None:
                    summary.unparsed.append(f"{account}:{row.external_id}: {pulled.error}")
                else:
                    before = row.status
                    event = remap(session, row, pulled.order)
                    if event is not None:
                        summary.changed.append(f"{account}:{row.external_id} {before} → {event.to_status} "
                                               f"({event.outcome})")
        if on_order is not None:
            on_order()
    return summary
