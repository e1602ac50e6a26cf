"""One full cycle of every job, as `connector sync --once` and the benchmarks run it; the daemon (and so the demo)
schedules the same functions one by one."""

from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters import CARRIERS
from adapters.base import CarrierAdapter, MarketplaceAdapter
from adapters.factory import build_adapter, build_carrier
from connector.config import Settings
from connector.errors import ConnectorError, describe
from connector.logs import get_logger
from connector.store import Store
from connector.sync import WRITE_SETTLE, owner_id
from connector.sync.gate import PullGate
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
              settle: timedelta = WRITE_SETTLE, workers: int = 1,
              per_marketplace: Mapping[str, int] | None = None) -> CycleResult:
    """Pull every account, then track, then push. ``workers`` accounts are pulled at once (1: one after another),
    at most ``per_marketplace[name]`` of one marketplace (a name left out: only ``workers`` bound it). ``on_page``
    is called from one thread at a time, whatever ``workers`` is."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1, not {workers!r}")
    gate = PullGate(per_marketplace)
    result = CycleResult()
    owner = owner or owner_id()
    if workers == 1:
        _pull_serially(store, adapters, result, owner=owner, stop=stop, on_page=on_page)
    else:
        _pull_concurrently(store, adapters, result, owner=owner, stop=stop, on_page=on_page, workers=workers,
                           gate=gate)
    if track is not None and not (stop is not None and stop.is_set()):
        try:
            result.track = track()  # before the push: what the carriers said may queue commands to push now
        except Exception as exc:  # noqa: BLE001  (tracking never stops the push)
            result.track = TrackSummary(errors={"tracking": describe(exc)})
            log.error("tracking failed", error=describe(exc))
    result.push = push_due(store, adapters, owner, stop=stop, settle=settle)
    return result


def _pull_one(store: Store, name: str, adapter: MarketplaceAdapter, result: CycleResult, *, owner: str,
              stop: threading.Event | None, on_page: Callable[[str, PullSummary], None] | None) -> None:
    try:
        result.pulls[name] = pull_account(store, adapter, owner=owner, stop=stop,
                                          on_page=(lambda s: on_page(name, s)) if on_page else None)
    except Exception as exc:  # noqa: BLE001  (one account's failure never stops the others)
        result.errors[name] = describe(exc)
        log.error("pull failed", account=name, error=describe(exc))


def _pull_serially(store: Store, adapters: dict[str, MarketplaceAdapter], result: CycleResult, *, owner: str,
                   stop: threading.Event | None, on_page: Callable[[str, PullSummary], None] | None) -> None:
    for name, adapter in adapters.items():
        if stop is not None and stop.is_set():
            break
        _pull_one(store, name, adapter, result, owner=owner, stop=stop, on_page=on_page)


def _pull_concurrently(store: Store, adapters: dict[str, MarketplaceAdapter], result: CycleResult, *, owner: str,
                       stop: threading.Event | None, on_page: Callable[[str, PullSummary], None] | None,
                       workers: int, gate: PullGate) -> None:
    """``workers`` threads take the accounts in order, each the first one whose marketplace has a free slot. A
    Ctrl-C while they work starts no other pull, and lets those in hand finish their page, when the caller gave no
    ``stop`` (one is made here; a caller's own is left for the caller to set)."""
    interrupted = None
    if stop is None:
        stop = interrupted = threading.Event()
    waiting = list(adapters.items())
    if on_page is not None:
        on_page = _one_at_a_time(on_page)  # a live table is drawn by one caller at a time

    def work() -> None:
        while (taken := gate.take(waiting, lambda item: item[1].marketplace, stop)) is not None:
            name, adapter = taken
            try:
                _pull_one(store, name, adapter, result, owner=owner, stop=stop, on_page=on_page)
            finally:
                gate.leave(adapter.marketplace)

    size = min(workers, len(waiting))
    with ThreadPoolExecutor(max_workers=max(size, 1), thread_name_prefix="pull") as pool:
        # each worker in a copy of the caller's context: the log fields bound around the cycle go along
        running = [pool.submit(contextvars.copy_context().run, work) for _ in range(size)]
        try:
            for future in running:
                future.result()
        except BaseException:
            if interrupted is not None:
                interrupted.set()
            raise
    # the accounts in the order they were given, as a serial cycle reports them
    result.pulls = {name: result.pulls[name] for name in adapters if name in result.pulls}
    result.errors = {name: result.errors[name] for name in adapters if name in result.errors}


def _one_at_a_time(callback: Callable[..., None]) -> Callable[..., None]:
    lock = threading.Lock()

    def serialised(*args: object) -> None:
        with lock:
            callback(*args)
    return serialised
