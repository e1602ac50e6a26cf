"""The ports every adapter implements, and the HTTP policy they share (timeouts, retries, backoff).

The core (connector/sync) talks only to these: a marketplace adapter pulls pages of orders and pushes commands; it
never sees an HTTP response. Each adapter folder has the same shape: client.py (transport, auth, errors),
mapper.py (payload → canonical), planner.py (command → requests), adapter.py (the port), sandbox.py (a faithful
fake of the remote, for demos and tests). A carrier folder has the same shape without a planner: carriers are only
read, and its ``__init__.py`` declares ``CARRIER`` (adapters/__init__.py).

Adapters never import each other: what two of them do alike lives here (the wire helpers, request spacing, the
step-by-step push, the scan cursor, batch tracking), and each keeps its own differences, saying so where it calls in.
What their sandboxes share lives in adapters/sandbox.py.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from connector.domain import Command, Order, RawPayload
from connector.domain.limits import clean_text
from connector.domain.tracking import CarrierEvent, ParcelReport  # noqa: F401  (the carrier port's data, pure)
from connector.errors import AuthError, PayloadError, PermanentError, TransientError
from mappings import normal_ttn

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PulledOrder:
    """One order as pulled: always the raw payload; the canonical order unless the payload did not parse."""

    external_id: str
    raw: RawPayload
    order: Order | None
    error: PayloadError | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """A page of pulled orders. ``cursor`` is set on the page that completes a scan: the new high-water mark,
    to be stored in the same transaction as the page, never before."""

    orders: list[PulledOrder]
    cursor: str | None = None
    notes: list[str] = field(default_factory=list)  # what the scan noticed (a repeating page, a page cap)


@dataclass(frozen=True, slots=True)
class PushResult:
    """What a push did: the requests sent, the steps found already done, and the remote status afterwards."""

    sent: list[str]
    skipped: list[str]
    remote_status: str


class MarketplaceAdapter(Protocol):
    marketplace: str
    account: str

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Orders changed since ``cursor`` (None: everything the marketplace lets us see), page by page."""

    def fetch(self, external_id: str) -> PulledOrder:
        """One order, fresh from the marketplace."""

    def push(self, command: Command, external_id: str) -> PushResult:
        """Carry out ``command`` on the marketplace, re-reading the remote order before every step."""

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Parcel:
    """What the tracking job asks a carrier about: a tracking number and, where the carrier answers more with it,
    the buyer's phone."""

    ttn: str
    phone: str = ""


@dataclass(frozen=True, slots=True)
class CarrierLogin:
    """A carrier's configuration with its secrets resolved: what a carrier's ``build`` function receives."""

    base_url: str
    username: str = ""
    api_key: str = ""
    password: str = ""


class CarrierAdapter(Protocol):
    carrier: str
    batch_size: int  # the most numbers one request may carry, as the carrier's API allows

    def track(self, parcels: Sequence[Parcel]) -> dict[str, ParcelReport]:
        """One request for at most ``batch_size`` parcels: a report for each number asked about, keyed by it.

        Raises as marketplace adapters do: TransientError (try later), AuthError (the credentials are wrong: the
        carrier's parcels are not tracked until they are fixed), PermanentError (the request was refused)."""

    def close(self) -> None: ...


class CarrierBuilder(Protocol):
    def __call__(self, login: CarrierLogin, vocabulary: object, policy: HttpPolicy | None = None,
                 sleep: Callable[[float], object] = time.sleep) -> CarrierAdapter: ...


class Shutdown(httpx.TransportError):
    """The process is stopping: the request in hand was abandoned (and may have reached the remote)."""


class DeadlineTransport(httpx.BaseTransport):
    """A whole answer within ``deadline`` seconds; once ``stop`` is set, the work in hand gets ``grace`` seconds to
    finish (the page or the push in hand is still completed) and then every request is abandoned.

    httpx's timeouts bound each socket read, so an answer that trickles in a byte at a time never trips them: a
    pull would hang for as long as the remote keeps dripping, and a stopping daemon with it. This reads the body
    against one deadline for the whole request. (Headers are bounded by the per-read timeout only: httpx reads them
    before the answer reaches this layer.)"""

    def __init__(self, inner: httpx.BaseTransport, deadline: float, stop: threading.Event | None,
                 grace: float = 5.0) -> None:
        self.inner, self.deadline, self.stop, self.grace = inner, deadline, stop, grace
        self._stopped_at: float | None = None

    def check(self, request: httpx.Request, what: str) -> None:
        if self.stop is None or not self.stop.is_set():
            return
        self._stopped_at = self._stopped_at or time.monotonic()
        if time.monotonic() - self._stopped_at > self.grace:
            raise Shutdown(f"shutting down: {what}", request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.check(request, "the request was not sent")
        until = time.monotonic() + self.deadline
        response = self.inner.handle_request(request)
        return httpx.Response(response.status_code, headers=response.headers, request=request,
                              stream=_Bounded(response.stream, self, until, request),
                              extensions=response.extensions)

    def close(self) -> None:
        self.inner.close()


class _Bounded(httpx.SyncByteStream):
    def __init__(self, inner, transport: DeadlineTransport, until: float, request: httpx.Request) -> None:
        self.inner, self.transport, self.until, self.request = inner, transport, until, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.transport.check(self.request, "the answer in progress was abandoned")
            if time.monotonic() > self.until:
                raise httpx.ReadTimeout("the whole answer did not arrive within the request deadline",
                                        request=self.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How patient a client is. Bounded in attempts and in total time, so a dead remote fails a run, not a day."""

    timeout: float = 20.0  # seconds for each socket operation (connect, each read, write, pool)
    deadline: float = 30.0  # seconds for one whole request, however slowly its answer arrives
    attempts: int = 5
    max_total: float = 60.0  # seconds across all attempts of one call
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    user_agent: str = "marketplace-order-sync"
    stop: threading.Event | None = field(default=None, compare=False)  # set: abandon requests in progress

    def client(self, base_url: str, transport: httpx.BaseTransport | None = None,
               headers: dict[str, str] | None = None, **kw) -> httpx.Client:
        # TLS verification stays on: verify is never passed as False anywhere in the project.
        bounded = DeadlineTransport(transport or httpx.HTTPTransport(), self.deadline, self.stop)
        return httpx.Client(base_url=base_url, timeout=self.timeout, transport=bounded,
                            headers={"User-Agent": self.user_agent} | (headers or {}), follow_redirects=False, **kw)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # the server said when: believe it, within our total budget
            return min(float(retry_after), self.max_total)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (state.attempt_number - 1))
        return random.uniform(0, ceiling)  # full jitter: accounts that failed together do not retry together

    def call(self, fn: Callable[[], T], *, idempotent: bool = True,
             sleep: Callable[[float], None] = time.sleep) -> T:
        """Run ``fn``, retrying TransientError with exponential backoff and jitter; anything else goes up at once.

        A write (``idempotent=False``) is retried only when the failed attempt certainly never reached the remote;
        otherwise the error goes up and the caller re-reads before deciding to send again."""
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, TransientError) and (idempotent or not e.delivered)),
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_total),
            wait=self._wait,
            sleep=sleep,
            reraise=True,
        )
        return retrying(fn)


# The connection was never made: the request certainly did not reach the remote.
_UNDELIVERED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def transport_error(exc: httpx.TransportError, what: str) -> TransientError:
    """Timeouts, refused and dropped connections: the remote may be back in a moment."""
    return TransientError(f"{what}: {type(exc).__name__}: {exc or 'no detail'}",
                          delivered=not isinstance(exc, _UNDELIVERED),
                          hint="retried with backoff; if it persists, check the network and base_url")


def raise_for_overload(response: httpx.Response, what: str) -> None:
    """HTTP 429 (not processed: safe to re-send, after ``Retry-After``) and 5xx (may have been processed) are
    transient; the rest is the caller's to read."""
    if response.status_code == 429:
        raise TransientError(f"{what}: rate limited (HTTP 429)", status=429, delivered=False,
                             retry_after=_retry_after(response.headers.get("retry-after")))
    if response.status_code >= 500:
        raise TransientError(f"{what}: HTTP {response.status_code}", status=response.status_code)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff


def not_json(response: httpx.Response, what: str) -> TransientError:
    """An answer whose body is not JSON (cut short, garbled, a proxy's page) where JSON was due.

    Shared because every JSON client reads it alike: the remote's real answer never arrived whole, so it is
    transient; a read may be asked again at once, a write only when the retry policy allows."""
    return TransientError(f"{what}: HTTP {response.status_code} with a body that is not JSON "
                          f"({response.text[:80]!r})", status=response.status_code)


def refused_login(response: httpx.Response, what: str, hint: str | None) -> AuthError:
    """HTTP 401/403 from a remote that takes its login with every request: the credentials were refused.

    Shared by the clients that read these statuses the same way whatever the body says (the body's words, when a
    client has them, are its own business)."""
    return AuthError(f"{what}: HTTP {response.status_code}", status=response.status_code, hint=hint)


def read_json(response: httpx.Response, what: str, *, auth_hint: str | None) -> Any:
    """The decoded body of a tracking read, after ``raise_for_overload``: HTTP 401/403 is a refused login
    (``refused_login``), a body that is not JSON is transient (``not_json``). Shared by the carrier clients that
    check exactly these two things in this order; the envelope inside is each client's own."""
    if response.status_code in (401, 403):
        raise refused_login(response, what, auth_hint)
    try:
        return response.json()
    except ValueError:
        raise not_json(response, what) from None


def flatten_details(details: Any) -> str:
    """Error details as words: a string, a list, or ``{field: [messages]}`` (nested any way) → one line.

    Shared because the marketplaces that send field-keyed validation details (Rozetka, Prom) shape them alike, and
    users need the words, not the shape."""
    if isinstance(details, dict):
        return "; ".join(f"{k}: {flatten_details(v)}" for k, v in details.items())
    if isinstance(details, list):
        return "; ".join(flatten_details(v) for v in details)
    return str(details)


def names_only_login(kind: object, auth_kinds: frozenset, names: Iterable[str | None],
                     login_names: frozenset[str]) -> bool:
    """Whether an error means "your login was refused": its kind (code, type) is one the carrier answers a bad login
    with, and every input it names (none at all counts) is a login field. The same kind naming another input is a
    refused request instead.

    Shared because Econt (``type`` + ``fields``) and Speedy (``code`` + ``component``) overload one error kind for
    both, and tell them apart the same way; each keeps its own table in its errors.py."""
    return kind in auth_kinds and all((name or "").strip().casefold() in login_names for name in names)


class RequestSpacing:
    """Politeness: one request at a time, at least ``1 / requests_per_second`` seconds between their starts
    (0 or less: no spacing, still one at a time). Use it as ``with spacing:`` around the request itself.

    Shared because the marketplaces that rate-limit per login (Prom per token, Chopni per session) are spaced the
    same way; each client picks its own rate."""

    def __init__(self, requests_per_second: float, sleep: Callable[[float], object],
                 clock: Callable[[], float]) -> None:
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._sleep, self._clock = sleep, clock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            wait = self._last + self.interval - self._clock()
            if wait > 0:
                self._sleep(wait)
            self._last = self._clock()
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


# -- marketplace adapters: what the ports share ----------------------------------------------------------------------

def nested_object(payload: dict, key: str) -> dict:
    """A nested object of an order payload, absent or null as {}; any other type is a payload that does not parse.

    Shared by the JSON marketplaces' mappers, which read optional sub-objects the same way."""
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{key} is a {type(value).__name__}, not an object")
    return value


def pulled_without_raising(payload: Any, to_order: Callable[[Any], Order], title: str) -> PulledOrder:
    """Map one JSON order payload without raising: a payload that does not parse comes back with its error (named
    ``<title> order <id>``) and its raw text, so one bad order is quarantined instead of failing the page.

    Shared because every JSON marketplace's ``mapper.pulled`` keeps the raw payload and turns any failure into a
    PayloadError the same way; ``to_order`` is the marketplace's own mapping."""
    raw = RawPayload(json.dumps(payload, ensure_ascii=False, sort_keys=True))
    external_id = clean_text(payload.get("id")) if isinstance(payload, dict) else ""
    try:
        return PulledOrder(external_id, raw, to_order(payload))
    except PayloadError as exc:
        exc.raw = raw.body
        exc.message = f"{title} order {external_id or '(no id)'}: {exc.message}"
        return PulledOrder(external_id, raw, None, exc)
    except Exception as exc:  # noqa: BLE001  pure code over one payload: whatever it trips on is that payload's
        return PulledOrder(external_id, raw, None, PayloadError(
            f"{title} order {external_id or '(no id)'}: did not map ({type(exc).__name__}: {exc})", raw=raw.body))


def latest_change(pulled: Iterable[PulledOrder], high: datetime | None) -> datetime | None:
    """The latest ``changed_at`` among the orders that mapped, or ``high`` if none is later: the high-water mark a
    scan by change time carries from page to page (Rozetka, Prom)."""
    for p in pulled:
        if p.order is not None and (high is None or p.order.changed_at > high):
            high = p.order.changed_at
    return high


def scan_cursor(high: datetime | None, started: datetime, mark: datetime | None) -> str | None:
    """The cursor a complete scan by change time stores: the highest change seen, but never past the scan's start
    (what changed while we scanned is read again next time); the old mark when nothing mapped."""
    new_mark = min(high, started) if high else mark
    return new_mark.astimezone(UTC).isoformat() if new_mark else None


class _Step(Protocol):
    def describe(self) -> str: ...


R = TypeVar("R")  # what a read of the remote order gives
S = TypeVar("S", bound=_Step)  # one planned step


def push_in_steps(command: Command, external_id: str, *, title: str, log: Any, ignored_event: str,
                  max_steps: int, settle: float, sleep: Callable[[float], object],
                  read: Callable[[], R], next_step: Callable[[R], S | None], send: Callable[[S], str],
                  unapplied: Callable[[S, R, R], PermanentError | None],
                  status: Callable[[R], str], already_done: Callable[[R], str]) -> PushResult:
    """Carry out a command as steps, re-reading the remote order before every one, so no step is sent twice.

    A write whose answer was lost (TransientError) is not sent again blindly: after ``settle`` seconds (a request
    that timed out here may still be running there) the next read shows whether it landed. A refusal right after
    such a write may only mean it landed late: the order is read again before the refusal goes up. A write answered
    with success is checked against the next read (``unapplied``: the remote may answer success and ignore it).

    Shared because the JSON marketplaces (Rozetka, Prom) push by exactly this protocol; what differs stays in each
    adapter and comes in as functions: ``read`` the order, plan its ``next_step``, ``send`` a step (→ the line for
    ``sent``), tell an ``unapplied`` step (step, the order before, after), the order's ``status`` and the
    ``already_done`` note. ``title`` names the marketplace in errors, ``log`` is the adapter's logger (its event
    names start with ``title`` lower-cased; ``ignored_event`` is the one for an unapplied step)."""
    name = title.lower()
    sent: list[str] = []
    uncertain: TransientError | None = None  # some write of this push lost its answer
    unconfirmed: S | None = None  # the write whose answer was just lost, not yet looked for
    confirmed: tuple[S, R] | None = None  # the write just answered with success, and the order before it
    for _ in range(max_steps):
        remote = read()  # re-read before every step
        if confirmed is not None:
            ignored = unapplied(confirmed[0], confirmed[1], remote)
            if ignored is not None:
                log.warning(ignored_event, order=external_id, step=confirmed[0].describe(), reason=ignored.message)
                raise ignored
            confirmed = None
        step = next_step(remote)
        if unconfirmed is not None and step != unconfirmed:
            sent.append(f"{unconfirmed.describe()} (its answer was lost; the order shows it)")
        unconfirmed = None
        if step is None:
            return PushResult(sent, [] if sent else [already_done(remote)], status(remote))
        try:
            line = send(step)
        except TransientError as exc:
            # The answer was lost, not necessarily the change: the next read shows which, and a step that
            # landed is never sent again.
            uncertain, unconfirmed = exc, step
            log.warning(f"{name} step unconfirmed; re-reading", order=external_id, step=step.describe(),
                        error=exc.message)
            sleep(settle)
            continue
        except PermanentError:
            # A refusal right after an unconfirmed write may only mean that write landed late: look again.
            if uncertain is not None:
                now = read()
                if next_step(now) is None:
                    return PushResult(sent, [f"{step.describe()}: already applied"], status(now))
            raise
        log.info(f"{name} step sent", order=external_id, step=step.describe(), command=str(command.kind))
        sent.append(line)
        confirmed = (step, remote)
    if uncertain is not None:
        raise uncertain
    raise PermanentError(f"{title} order {external_id} did not reach the goal of {command.kind} in {max_steps} "
                         "steps", hint="the order keeps changing remotely; check it in the cabinet")


# -- carrier adapters: what the ports share ---------------------------------------------------------------------------

def track_batch(parcels: Sequence[Parcel], *, title: str, batch_size: int, ask: Callable[[list[str]], Any],
                read: Callable[[Any, list[str]], dict[str, ParcelReport]]) -> dict[str, ParcelReport]:
    """``CarrierAdapter.track`` for a carrier that answers one batch of numbers in one request: at most ``batch_size``
    parcels (more is a ValueError: splitting is the caller's), each number asked once in its normal form, the
    reports keyed back by each parcel's ``ttn`` as given.

    Shared because Econt and Speedy track exactly so; each passes its own request (``ask``, numbers → the decoded
    answer) and its mapper (``read``, answer and numbers → reports by number). An answer whose envelope is not the
    carrier's (``read`` trips on its shape) is a PayloadError naming ``title``."""
    if len(parcels) > batch_size:
        raise ValueError(f"{title}: {len(parcels)} parcels in one request; at most {batch_size}")
    if not parcels:
        return {}
    asked = list(dict.fromkeys(normal_ttn(p.ttn) for p in parcels))
    payload = ask(asked)
    try:
        by_number = read(payload, asked)
    except (AttributeError, TypeError) as exc:
        raise PayloadError(f"{title} answer does not parse: {exc}", raw=str(payload)[:2000]) from exc
    return {p.ttn: _as_asked(by_number[normal_ttn(p.ttn)], p.ttn) for p in parcels}


def _as_asked(report: ParcelReport, ttn: str) -> ParcelReport:
    return report if report.ttn == ttn else replace(report, ttn=ttn)
