"""`connector run`: the jobs on a schedule, woken at once by new commands, stopped gracefully, watched over HTTP.

- APScheduler 3: one pull job per account (jittered, so accounts do not fire together) and one push job; each job
  coalesces missed runs and never runs twice at once. Pulls run on ``daemon.pull_workers`` threads of their own, at
  most ``daemon.pulls_per_marketplace`` of one marketplace at once (connector/sync/gate.py).
- A new command wakes the push job: PostgreSQL LISTEN on the channel the commands table's trigger notifies (CLI
  and ERP inserts alike); on SQLite, a look at the newest command id four times a second (one indexed MAX).
- SIGTERM/SIGINT: stop taking work, let the page or push in hand finish and commit, exit 0. A second signal exits
  at once (exit code 1); whatever was in flight is picked up by the next run, which is what the leases are for.
- On a local port: /livez (the process works), /readyz (the store answers), /healthz (every account in detail; 503
  when one needs a person) and /metrics (Prometheus). docs/operations.md says which probe is for what.
- A refused login pauses its account, and the pause outlives a restart (a restart loop must not try a wrong password
  at each start): it ends after 30 minutes, or at the next pull once the secret is no longer the one refused.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import (
    CONTENT_TYPE_LATEST, GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, Counter, Gauge,
    Histogram, Info, generate_latest,
)

from adapters.base import CarrierAdapter, MarketplaceAdapter
from adapters.factory import build_adapter
from connector import __version__
from connector.config import Settings
from connector.domain import utcnow
from connector.errors import AuthError, ConnectorError, PermanentError, StartupError, TransientError, describe
from connector.logs import get_logger, redact
from connector.store import Store
from connector.store.accounts import (
    failed_secrets, failed_secrets_of, pause_kind, paused_accounts, reclaim_dead_local_leases,
    remember_failed_secret, resume_if_secret_changed, states,
)
from connector.store.retention import purge_all
from connector.sync.webhooks import deliver_due
from connector.store.tables import CommandRow, OrderRow
from connector.sync import owner_id, process_alive
from connector.sync.cycle import build_adapters, build_carriers, track_for
from connector.sync.gate import PullGate
from connector.sync.pull import pull_account
from connector.sync.push import push_due

log = get_logger(__name__)

NOTIFY_CHANNEL = "connector_commands"  # the trigger in migration 0002 notifies here
PULLS = "pulls"  # the executor of the pull jobs
OTHER_JOBS = ("push", "track", "purge", "webhooks")  # one thread each in the default executor
GATE_RETRY = 1.0  # seconds until a pull that found its marketplace's slots all taken tries again
# SQLite has no LISTEN: how often a new command is looked for. Its cost is one MAX over the primary key; the push
# latency it sets (bench/push.py) is at most this plus the push itself.
COMMAND_POLL = 0.25


class Metrics:
    """The daemon's Prometheus metrics, in a registry of its own (several daemons may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.orders = Counter("connector_orders_pulled", "Orders read by pulls, by what the store did with them",
                              ["account", "outcome"], registry=r)
        self.pushes = Counter("connector_pushes", "Commands pushed, by outcome", ["account", "outcome"], registry=r)
        self.errors = Counter("connector_errors", "Failed job runs, by error class", ["account", "error_class"],
                              registry=r)
        self.duration = Histogram("connector_job_duration_seconds", "How long one job run took", ["job", "account"],
                                  registry=r, buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300))
        self.lag = Gauge("connector_pull_lag_seconds", "Seconds since the account's last successful pull",
                         ["account"], registry=r)
        self.outbox = Gauge("connector_outbox_pending", "Commands waiting to be pushed", registry=r)
        self.parcels = Counter("connector_parcels_tracked", "Parcels asked about at their carrier", ["carrier"],
                               registry=r)
        self.track_requests = Counter("connector_track_requests", "Requests made to carriers", ["carrier"],
                                      registry=r)
        self.parcel_alerts = Counter("connector_parcel_alerts", "Parcel alerts raised (free storage ending soon)",
                                     registry=r)
        self.last_track = Gauge("connector_last_track_success_timestamp_seconds",
                                "When the last tracking run finished without a carrier failing", registry=r)
        self.account_up = Gauge("connector_account_up", "1 while the account is healthy (started, pulled "
                                "lately, not paused); 0 otherwise, including an account that could not start",
                                ["account"], registry=r)
        self.paused = Gauge("connector_account_paused", "1 while the account is paused (its login refused, or by "
                            "an operator)", ["account"], registry=r)
        self.last_pull = Gauge("connector_last_pull_success_timestamp_seconds",
                               "When the account's last successful pull finished (Unix time)", ["account"],
                               registry=r)
        self.commands_failed = Gauge("connector_commands_failed", "Commands that failed and wait for a person "
                                     "(`connector outbox --failed`)", registry=r)
        self.review = Gauge("connector_orders_needing_review", "Orders flagged for review "
                            "(`connector orders --review`)", registry=r)
        Info("connector_build", "The running connector's version", registry=r).info({"version": __version__})
        # the standard process_*, python_gc_* and python_info series, as the default registry has them
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)


def error_class(exc: BaseException) -> str:
    for cls, name in ((AuthError, "auth"), (TransientError, "transient"), (PermanentError, "permanent")):
        if isinstance(exc, cls):
            return name
    return "other"


class Daemon:
    def __init__(self, settings: Settings, store: Store, *, adapters: dict[str, MarketplaceAdapter] | None = None,
                 carriers: dict[str, CarrierAdapter | str] | None = None, owner: str | None = None) -> None:
        self.settings, self.store = settings, store
        self.owner = owner or owner_id()
        self.stop = threading.Event()
        self.metrics = Metrics()
        self.started_at = utcnow()
        # account → why it could not be started (a secret unset, a mapping file missing). It stays in /healthz
        # and /metrics as failed, so that it does not quietly disappear from what an operator watches.
        self.not_started: dict[str, str] = {}
        # Only adapters this daemon built are rebuilt when their secret is replaced; a test's own are kept.
        self._rebuild = adapters is None
        if adapters is None:
            # Waits inside a push (backoff, settling after a lost answer) end at once when the daemon stops.
            adapters, self.not_started = build_adapters(settings, sleep=self.stop.wait, stop=self.stop)
            for name, error in self.not_started.items():
                log.error("ALERT account not started", account=name, error=error)
                self.metrics.account_up.labels(name).set(0)
        self.adapters = adapters
        # account → the fingerprint of the secret its adapter logs in with: what a refused login remembers
        self._secrets = {name: self._fingerprint(name) for name in adapters}
        self.carriers = carriers if carriers is not None else build_carriers(settings, sleep=self.stop.wait, stop=self.stop)
        for name, why in self.carriers.items():
            if isinstance(why, str) and name in settings.carriers:
                log.error("ALERT carrier not started; its parcels are not tracked", carrier=name, error=why)
        # Pulls have a pool of their own, so that pull_workers bounds them and a long pull never holds up a push.
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None}, executors={
            "default": ThreadPoolExecutor(len(OTHER_JOBS)), PULLS: ThreadPoolExecutor(settings.daemon.pull_workers)})
        self.gate = PullGate(settings.daemon.pulls_per_marketplace)
        self._threads: list[threading.Thread] = []
        self._scheduler_log_level: int | None = None
        self._health: ThreadingHTTPServer | None = None
        self._woken = threading.Event()  # a command arrived while a push was running: run again right after
        self._pushing = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        # APScheduler logs through stdlib logging, outside the structlog pipeline: every wake-up that lands while a
        # push runs says "skipped: maximum number of running instances" at warning level, which is how wake-ups
        # work here (the running push goes again), not news. Its errors (a job that raised) still show.
        scheduler_log = logging.getLogger("apscheduler")
        self._scheduler_log_level = scheduler_log.level
        scheduler_log.setLevel(max(logging.ERROR, scheduler_log.getEffectiveLevel()))
        # The health port first: a second daemon started by mistake must fail before it touches the store or
        # pushes anything, not after its jobs ran.
        if self.settings.daemon.health_port is not None:
            self._bind_health()
        try:
            self._start_jobs()
        except BaseException:
            self._close_health()
            raise
        if self._health is not None:
            self._spawn(self._health.serve_forever, "health")
        log.info("daemon started", owner=self.owner, accounts=sorted(self.adapters), health=self.health_url)

    def _start_jobs(self) -> None:
        # No account is resumed here: a pause after a refused login ends when its secret changes (checked at each
        # pull) or after its 30 minutes, so a daemon restarted in a loop cannot hammer a marketplace with a wrong
        # password. A daemon restarted after a crash on this host should not wait for its dead predecessor's
        # leases to run out.
        with self.store.transaction() as session:
            freed = reclaim_dead_local_leases(session, socket.gethostname(), process_alive,
                                              settle=self.settings.daemon.takeover_wait)
        if freed:
            log.info("took over leases of a daemon that died on this host", leases=freed)
        schedule = self.settings.schedule
        pull_every = schedule.pull_every.total_seconds()
        now = datetime.now(UTC)
        # the first pulls spread over at most one interval, however many accounts there are
        spacing = min(0.5, pull_every / max(len(self.adapters), 1))
        for i, name in enumerate(self.adapters):
            self.scheduler.add_job(self._pull, "interval", seconds=pull_every, id=f"pull:{name}", args=[name],
                                   jitter=min(pull_every * 0.1, 30), next_run_time=now + timedelta(seconds=i * spacing),
                                   executor=PULLS)
        self.scheduler.add_job(self._push, "interval", seconds=schedule.push_every.total_seconds(), id="push",
                               next_run_time=now)
        if self.settings.retention.enabled:
            self.scheduler.add_job(self._purge, "interval", hours=24, id="purge",
                                   next_run_time=now + timedelta(minutes=5))
        self.scheduler.add_job(self._track, "interval", seconds=schedule.track_every.total_seconds(), id="track",
                               next_run_time=now + timedelta(seconds=len(self.adapters) * spacing + 1))
        if self.settings.webhooks:
            self.scheduler.add_job(self._deliver, "interval", seconds=schedule.push_every.total_seconds(),
                                   id="webhooks", next_run_time=now)
        self.scheduler.start()
        self._spawn(self._wake_on_commands, "waker")

    def shutdown(self, wait: bool = True) -> None:
        self.stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)  # the jobs see ``stop`` and finish the page or push in hand
        self._close_health()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._scheduler_log_level is not None:
            logging.getLogger("apscheduler").setLevel(self._scheduler_log_level)
        for adapter in [*self.adapters.values(), *(c for c in self.carriers.values() if not isinstance(c, str))]:
            adapter.close()
        log.info("daemon stopped", owner=self.owner)

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT; the second one exits at once."""
        def on_signal(signum: int, _frame: Any) -> None:
            if self.stop.is_set():
                log.warning("second signal: exiting now")
                os._exit(1)
            log.info("signal received: finishing the work in hand", signal=signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not self.stop.wait(0.5):
            pass
        self.shutdown(wait=True)

    def wake(self) -> None:
        """Push now rather than at the next interval (or right after the push that is running)."""
        self._woken.set()
        if not self._pushing.is_set():  # a running push sees _woken and goes again by itself
            self._run_now("push")

    def pull_now(self, account: str | None = None) -> None:
        for name in [account] if account else list(self.adapters):
            self._run_now(f"pull:{name}")

    def _run_now(self, job: str, *, within: float = 0.0) -> None:
        """Run ``job`` now, or at the latest ``within`` seconds from now (a run due sooner is left as it is)."""
        if self.scheduler.running and not self.stop.is_set():
            try:
                latest = datetime.now(UTC) + timedelta(seconds=within)
                due = self.scheduler.get_job(job).next_run_time
                if due is None or due > latest:
                    self.scheduler.modify_job(job, next_run_time=latest)
            except Exception:  # noqa: BLE001  (shutting down between the check and the call: nothing to run)
                pass

    # -- jobs ---------------------------------------------------------------------------------------------------

    def _fingerprint(self, name: str) -> str | None:
        """The account's secret as it is now (None: not configured here, or its file unreadable)."""
        try:
            return self.settings.account(name).secret_fingerprint()
        except ConnectorError:
            return None

    def _resume_if_secret_changed(self, name: str) -> None:
        """A credentials pause ends at once when the secret is no longer the one refused: a file rewritten while
        the daemon runs, or a variable changed across a restart. The adapter is rebuilt with the new secret first:
        one that cannot be built (a file caught half-written) leaves the account paused until the next pull."""
        try:
            with self.store.reading() as session:
                refused = failed_secrets_of(session, name)
                paused = name in paused_accounts(session)
        except Exception as exc:  # noqa: BLE001  (the pull that follows meets the same store and reports it)
            log.warning("could not look at the account's pause", account=name, error=describe(exc))
            return
        if refused is None or not paused:
            return
        current = self._fingerprint(name)
        if current is None or current == refused:
            return
        if self._rebuild and current != self._secrets.get(name):
            try:
                adapter = build_adapter(self.settings.account(name), sleep=self.stop.wait, stop=self.stop)
            except ConnectorError as exc:
                log.error("ALERT account could not be rebuilt with its new secret", account=name,
                          error=exc.message)
                return
            # the push job skips a paused account, and pulls of one account never overlap: the old one is idle
            old, self.adapters[name] = self.adapters[name], adapter
            self._secrets[name] = current
            old.close()
        with self.store.transaction() as session:  # judged again in the transaction: another daemon may have
            resumed = resume_if_secret_changed(session, name, lambda: current)
        if resumed:
            log.info("the refused secret was replaced: account resumed", account=name)

    def _remember_refused(self, name: str) -> None:
        fingerprint = self._secrets.get(name)
        if fingerprint is None:
            return
        try:
            with self.store.transaction() as session:
                remember_failed_secret(session, name, fingerprint)
        except Exception as exc:  # noqa: BLE001  (the pause stands; only its early end on a new secret is lost)
            log.warning("could not record which secret was refused", account=name, error=describe(exc))

    def _pull(self, name: str) -> None:
        if self.stop.is_set():
            return
        marketplace = self.adapters[name].marketplace
        # Not waited for: a pull thread waiting here would idle while another marketplace's account could run.
        if not self.gate.try_enter(marketplace):
            log.debug("the marketplace's pulls are all in use: trying again shortly", account=name)
            self._run_now(f"pull:{name}", within=GATE_RETRY)
            return
        try:
            self._pull_account(name)
        finally:
            self.gate.leave(marketplace)

    def _pull_account(self, name: str) -> None:
        m = self.metrics
        started = time.monotonic()
        self._resume_if_secret_changed(name)
        try:
            # half an interval: a pull another daemon over this store just made is not made again
            summary = pull_account(self.store, self.adapters[name], owner=self.owner, stop=self.stop,
                                   fresh_for=self.settings.schedule.pull_every / 2)
        except Exception as exc:  # noqa: BLE001  (recorded on the account; the next run tries again)
            if isinstance(exc, AuthError):  # pull_account paused the account: remember what was refused
                self._remember_refused(name)
            m.errors.labels(name, error_class(exc)).inc()
            log.error("pull failed", account=name, error=describe(exc))
        else:
            for outcome in ("created", "updated", "unchanged"):
                m.orders.labels(name, outcome).inc(getattr(summary, outcome))
            m.orders.labels(name, "unparsed").inc(len(summary.unparsed))
        finally:
            m.duration.labels("pull", name).observe(time.monotonic() - started)

    def _purge(self) -> None:
        """Retention, once a day: payloads and buyer data of orders finished long ago (docs/security.md)."""
        if self.stop.is_set():
            return
        retention = self.settings.retention
        try:
            done = purge_all(self.store, finished_after=retention.finished_orders, versions=retention.raw_versions)
            log.info("retention applied", orders=done.orders, payloads=done.payloads, quarantined=done.quarantined)
        except Exception as exc:  # noqa: BLE001  (tomorrow's run tries again)
            log.error("retention failed", error=describe(exc))

    def _deliver(self) -> None:
        """Webhooks: the feed's new events to each subscription, signed, with retries (connector/sync/webhooks.py)."""
        if self.stop.is_set():
            return
        try:
            done = deliver_due(self.store, self.settings, owner=self.owner, stop=self.stop)
        except Exception as exc:  # noqa: BLE001  (the next run tries again: deliveries wait in the store)
            log.error("webhook delivery failed", error=describe(exc))
            return
        if done.failed:
            log.error("ALERT webhook deliveries failed for good", failed=done.failed)

    def _track(self) -> None:
        if self.stop.is_set():
            return
        m = self.metrics
        started = time.monotonic()
        try:
            summary = track_for(self.store, self.settings, self.carriers, accounts=list(self.adapters), stop=self.stop)
        except Exception as exc:  # noqa: BLE001  (the next run tries again)
            m.errors.labels("", error_class(exc)).inc()
            log.error("tracking failed", error=describe(exc))
        else:
            for carrier, n in summary.asked.items():
                m.parcels.labels(carrier).inc(n)
            for carrier, n in summary.requests.items():
                m.track_requests.labels(carrier).inc(n)
            m.parcel_alerts.inc(len(summary.alerts))
            if summary.ok:
                m.last_track.set(time.time())
            if summary.commands:
                self.wake()  # a delivered parcel queued a command: push it now
        finally:
            m.duration.labels("track", "").observe(time.monotonic() - started)

    def _push(self) -> None:
        while True:
            self._pushing.set()
            try:
                self._drain()
            finally:
                self._pushing.clear()
            if self.stop.is_set() or not self._woken.is_set():  # a wake in the gap above is not lost
                break

    def _drain(self) -> None:
        # One account at a time, so that the push histogram says which marketplace is slow.
        while not self.stop.is_set():
            self._woken.clear()
            full = False
            for name in list(self.adapters):
                if self.stop.is_set():
                    break
                started = time.monotonic()
                summary = push_due(self.store, {name: self.adapters[name]}, self.owner, stop=self.stop,
                                   settle=self.settings.daemon.takeover_wait)
                self.metrics.duration.labels("push", name).observe(time.monotonic() - started)
                for account, outcome in summary.outcomes:
                    self.metrics.pushes.labels(account, outcome).inc()
                for account in summary.paused:  # a refused login during a push pauses the account too
                    self._remember_refused(account)
                full |= summary.pushed >= 20
            # go again if a batch was full (more may be due) or a command arrived meanwhile
            if not full and not self._woken.is_set():
                break

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _wake_on_commands(self) -> None:
        try:
            if self.store.dialect == "postgresql":
                self._listen()
            else:
                self._poll_newest_command()
        except Exception as exc:  # noqa: BLE001  (the interval push still runs; only the shortcut is lost)
            log.warning("command wake-ups stopped; pushes continue on the interval", error=str(exc))

    def _listen(self) -> None:
        url = sa.engine.make_url(self.store.url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            while not self.stop.is_set():
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    self.wake()

    def _poll_newest_command(self) -> None:
        def newest() -> int | None:
            with self.store.engine.connect() as conn:
                return conn.execute(sa.select(sa.func.max(CommandRow.id))).scalar()

        seen = newest()
        while not self.stop.wait(COMMAND_POLL):
            latest = newest()
            if latest != seen:
                self.wake()
            seen = latest

    # -- health -------------------------------------------------------------------------------------------------

    @property
    def health_url(self) -> str | None:
        if self._health is None:
            return None
        host, port = self._health.server_address[:2]
        return f"http://{host}:{port}"

    def health(self) -> tuple[bool, dict[str, Any]]:
        now = utcnow()
        stale = self.settings.schedule.pull_every * self.settings.daemon.stale_after
        report: dict[str, Any] = {"owner": self.owner, "store": True, "accounts": self._not_started_report()}
        try:
            with self.store.reading() as session:
                account_states, refused = states(session), failed_secrets(session)
                by_state = dict(session.execute(sa.select(CommandRow.state, sa.func.count())
                                                .group_by(CommandRow.state)).all())
                review = session.execute(sa.select(sa.func.count()).select_from(OrderRow)
                                         .where(OrderRow.needs_review.is_(True))).scalar()
        except Exception as exc:  # noqa: BLE001
            report["store"], report["store_error"] = False, describe(exc)
            return False, report
        pending = by_state.get("pending", 0) + by_state.get("in_progress", 0)
        m = self.metrics
        m.outbox.set(pending)
        m.commands_failed.set(by_state.get("failed", 0))
        m.review.set(review)
        report |= {"outbox_pending": pending, "commands_failed": by_state.get("failed", 0),
                   "orders_needing_review": review}
        healthy = not self.not_started
        for name in self.adapters:
            state = account_states.get(name)
            last_ok = state.last_pull_ok_at if state else None
            reference = last_ok or self.started_at
            fresh = now - reference <= stale
            paused = bool(state and state.paused_until and state.paused_until > now)
            if last_ok:
                m.lag.labels(name).set((now - last_ok).total_seconds())
                m.last_pull.labels(name).set(last_ok.timestamp())
            healthy &= fresh and not paused
            m.account_up.labels(name).set(1 if fresh and not paused else 0)
            m.paused.labels(name).set(1 if paused else 0)
            report["accounts"][name] = {
                "ok": fresh and not paused,
                "started": True,
                "last_pull_ok_at": last_ok.isoformat() if last_ok else None,
                "last_error": redact(state.last_error) if state else "",
                "paused_until": state.paused_until.isoformat() if paused else None,
                # the marketplace's refusal names the seller's login (an e-mail): redacted like the logs
                "paused_reason": redact(state.paused_reason) if paused else "",
                "paused_for": pause_kind(state, refused.get(name)) if paused else None,
            }
        return healthy, report

    def live(self) -> tuple[bool, dict[str, Any]]:
        """The process works: its scheduler runs (or it has not started yet). Nothing outside it is asked, so a
        marketplace or a database that is down never gets the process restarted for nothing."""
        running = self.scheduler.running or not self._threads
        return running, {"owner": self.owner, "version": __version__, "live": running}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Able to work: the store answers and the daemon is not stopping. Marketplaces are not asked."""
        report: dict[str, Any] = {"owner": self.owner, "store": True, "stopping": self.stop.is_set()}
        try:
            self.store.ping()
        except Exception as exc:  # noqa: BLE001
            report["store"], report["store_error"] = False, describe(exc)
        return report["store"] and not report["stopping"], report

    def _not_started_report(self) -> dict[str, dict[str, Any]]:
        """The accounts that could not be started: failed, with the reason, for as long as the daemon runs."""
        return {name: {"ok": False, "started": False, "error": redact(why), "last_pull_ok_at": None,
                       "last_error": redact(why), "paused_until": None, "paused_reason": "", "paused_for": None}
                for name, why in self.not_started.items()}

    def _bind_health(self) -> None:
        """Take the health port (not serving yet). A port that is taken ends the daemon, said in one line."""
        cfg = self.settings.daemon
        where = f"{cfg.health_host}:{cfg.health_port}"
        try:
            address = (cfg.health_host, cfg.health_port or 0)
            self._health = ThreadingHTTPServer(address, self._health_handler())
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = "the port is taken (is another `connector run` running?)"
                hint = ("stop the other daemon, or set another daemon.health_port (or --health-port; 0: any "
                        "free port)")
            else:
                why, hint = exc.strerror or str(exc), "check daemon.health_host and daemon.health_port"
            raise StartupError(f"cannot serve /healthz on {where}: {why}", hint=hint) from None
        self._health.daemon_threads = True

    def _close_health(self) -> None:
        if self._health is None:
            return
        # shutdown() would wait for ever for a serve_forever that never ran
        if any(t.name == "health" for t in self._threads):
            self._health.shutdown()
        self._health.server_close()

    def _health_handler(self) -> type[BaseHTTPRequestHandler]:
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                probe = {"/livez": daemon.live, "/readyz": daemon.ready, "/healthz": daemon.health}.get(
                    self.path.split("?")[0].rstrip("/"))
                if probe is not None:
                    ok, report = probe()
                    body, kind, status = json.dumps(report).encode(), "application/json", 200 if ok else 503
                elif self.path.startswith("/metrics"):
                    daemon.health()  # refresh the gauges that are read from the store
                    body, kind, status = generate_latest(daemon.metrics.registry), CONTENT_TYPE_LATEST, 200
                else:
                    body, kind, status = b"try /livez, /readyz, /healthz or /metrics\n", "text/plain", 404
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
