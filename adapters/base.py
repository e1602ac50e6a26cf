"""The ports every adapter implements, and the HTTP policy they share (timeouts, retries, backoff).

The core (connector/sync) talks only to these: a marketplace adapter pulls pages of orders and pushes commands; it
never sees an HTTP response. Each adapter folder has the same shape: client.py (transport, auth, errors),
mapper.py (payload → canonical), planner.py (command → requests), adapter.py (the port), sandbox.py (a faithful
fake of the remote, for demos and tests). A carrier folder has the same shape without a planner: carriers are only
read, and its ``__init__.py`` declares ``CARRIER`` (adapters/__init__.py).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from connector.domain import Command, Order, RawPayload
from connector.domain.tracking import CarrierEvent, ParcelReport  # noqa: F401  (the carrier port's data, pure)
from connector.errors import PayloadError, TransientError

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
