"""One full cycle of every job, as `connector sync --once` and the demo run it; the daemon schedules the same
functions one by one."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters import CARRIERS
from adapters.base import CarrierAdapter, MarketplaceAdapter
from adapters.factory import build_adapter, build_carrier
from connector.config import Settings
from connector.errors import ConnectorError, describe
from connector.logs import get_logger
from connector.store import Store
from connector.sync import WRITE_SETTLE, owner_id
from connector.sync.pull import PullSummary, pull_account
from connector.sync.push import PushSummary, push_due
from connector.sync.track import TrackSummary, track_parcels

log = get_logger(__name__)


@dataclass
class CycleResult:
    pulls: dict[str, PullSummary] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # account → why its pull (or its adapter) failed
    push: PushSummary = field(default_factory=PushSummary)
    track: TrackSummary | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.push.paused and (self.track is None or self.track.ok)


def build_adapters(settings: Settings, accounts: list[str] | None = None, *,
                   sleep: Callable[[float], object] = time.sleep,
                   stop: threading.Event | None = None) -> tuple[dict[str, MarketplaceAdapter], dict[str, str]]:
    """An adapter per enabled account; an account that cannot be built (a missing secret) is reported, and the
    others go on. ``sleep`` is how the adapters wait (the daemon's ends at once when it stops)."""
    adapters, errors = {}, {}
    for account in settings.accounts:
        if not account.enabled or (accounts and account.name not in accounts):
            continue
        try:
            adapters[account.name] = build_adapter(account, sleep=sleep, stop=stop)
        except ConnectorError as exc:
            errors[account.name] = str(exc)
    return adapters, errors


def build_carriers(settings: Settings, *, sleep: Callable[[float], object] = time.sleep,
                   stop: threading.Event | None = None) -> dict[str, CarrierAdapter | str]:
    """Every carrier's adapter, or the reason it has none: not configured, disabled, or its secret unset. A
    carrier without an adapter tracks nothing and says why on its parcels; it never fails a sync."""
    carriers: dict[str, CarrierAdapter | str] = {}
    for name in CARRIERS:
        configured = settings.carriers.get(name)
        if configured is None:
            carriers[name] = f"{name} is not configured: add carriers.{name} to the configuration"
        elif not configured.enabled:
            carriers[name] = f"{name} is disabled in the configuration (carriers.{name}.enabled)"
        else:
            try:
                carriers[name] = build_carrier(name, configured, sleep=sleep, stop=stop)
            except ConnectorError as exc:
                carriers[name] = str(exc)
    return carriers


def track_for(store: Store, settings: Settings, carriers: dict[str, CarrierAdapter | str], *,
              accounts: list[str] | None = None, stop: threading.Event | None = None,
              on_batch: Callable[[TrackSummary], None] | None = None) -> TrackSummary:
    """A tracking run over the configured accounts' parcels, with each account's rules."""
    by_name = {a.name: a for a in settings.accounts}
    names = [a.name for a in settings.accounts if a.enabled and (not accounts or a.name in accounts)]
    return track_parcels(store, carriers, lambda name: by_name[name].tracking.rules(by_name[name].marketplace),
                         every=settings.schedule.track_every, accounts=names, stop=stop, on_batch=on_batch)


def run_cycle(store: Store, adapters: dict[str, MarketplaceAdapter], *, owner: str | None = None,
              stop: threading.Event | None = None,
              on_page: Callable[[str, PullSummary], None] | None = None,
              track: Callable[[], TrackSummary] | None = None,
              settle: timedelta = WRITE_SETTLE) -> CycleResult:
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
    if track is not None and not (stop is not None and stop.is_set()):
        try:
            result.track = track()  # before the push: what the carriers said may queue commands to push now
        except Exception as exc:  # noqa: BLE001  (tracking never stops the push)
            result.track = TrackSummary(errors={"tracking": describe(exc)})
            log.error("tracking failed", error=describe(exc))
    result.push = push_due(store, adapters, owner, stop=stop, settle=settle)
    return result
