"""One full cycle of every job, as `connector sync --once` and the demo run it; the daemon schedules the same
functions one by one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.base import MarketplaceAdapter
from adapters.factory import build_adapter
from connector.config import Settings
from connector.errors import ConnectorError, describe
from connector.logs import get_logger
from connector.store import Store
from connector.sync import owner_id
from connector.sync.pull import PullSummary, pull_account
from connector.sync.push import PushSummary, push_due

log = get_logger(__name__)


@dataclass
class CycleResult:
    pulls: dict[str, PullSummary] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # account → why its pull (or its adapter) failed
    push: PushSummary = field(default_factory=PushSummary)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.push.paused


def build_adapters(settings: Settings, accounts: list[str] | None = None, *,
                   sleep: Callable[[float], object] = time.sleep) -> tuple[dict[str, MarketplaceAdapter],
                                                                           dict[str, str]]:
    """An adapter per enabled account; an account that cannot be built (a missing secret) is reported, and the
    others go on. ``sleep`` is how the adapters wait (the daemon's ends at once when it stops)."""
    adapters, errors = {}, {}
    for account in settings.accounts:
        if not account.enabled or (accounts and account.name not in accounts):
            continue
        try:
            adapters[account.name] = build_adapter(account, sleep=sleep)
        except ConnectorError as exc:
            errors[account.name] = str(exc)
    return adapters, errors


def run_cycle(store: Store, adapters: dict[str, MarketplaceAdapter], *, owner: str | None = None,
              stop: threading.Event | None = None,
              on_page: Callable[[str, PullSummary], None] | None = None) -> CycleResult:
    result = CycleResult()
    owner = owner or owner_id()
    for name, adapter in adapters.items():
        if stop is not None and stop.is_set():
            break
        try:
            result.pulls[name] = pull_account(store, adapter, owner=owner, stop=stop,
                                              on_page=(lambda s, n=name: on_page(n, s)) if on_page else None)
        except Exception as exc:  # noqa: BLE001  (one account's failure never stops the others)
            result.errors[name] = describe(exc)
            log.error("pull failed", account=name, error=describe(exc))
    result.push = push_due(store, adapters, owner, stop=stop)
    return result
