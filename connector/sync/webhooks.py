"""Outbound webhooks: the feed's events, POSTed as signed JSON to each subscription's URL.

``deliver_due(store, settings)`` is one run, for a scheduler job: it writes the deliveries of new events (one per
subscription and event), then sends the due ones, one lease at a time. A receiver that fails gets the delivery
again later, the waits growing to ``max_backoff`` and staying there, so a receiver that is down for a day gets
everything within ``max_backoff`` of coming back; a delivery still failing ``give_up_after`` after it was written
ends ``failed``, visible in `connector webhooks --failed` and sent again with `connector webhooks retry ID`.

While a subscription's receiver fails, a run stops sending to it (the others go on): the next run tries again.

Each request: the body is the event as the feed gives it plus ``delivery_id`` and ``subscription``; the headers
``X-Connector-Signature: sha256=<hex HMAC-SHA256 of the raw body with the subscription's secret>``,
``X-Connector-Delivery`` (the same on every attempt of one delivery: receivers drop repeats by it),
``X-Connector-Event`` and ``X-Connector-Seq``. Any 2xx is delivered; anything else is tried again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlmodel import select

from connector import __version__
from connector.config import Settings, WebhookSettings
from connector.domain import utcnow
from connector.errors import describe
from connector.logs import get_logger, strip_userinfo
from connector.store import Store
from connector.store.deliveries import LeasedDelivery, fan_out, finish, lease
from connector.store.events import FeedEvent
from connector.store.tables import OrderEventRow
from connector.sync import owner_id

log = get_logger(__name__)

FIRST_WAIT = timedelta(seconds=10)
GROWTH = 3  # each wait three times the last: 10 s, 30 s, 1.5 min, 4.5 min, 13.5 min, 40 min, then max_backoff


@dataclass
class DeliverySummary:
    written: int = 0  # deliveries written from new events
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unsigned: list[str] = field(default_factory=list)  # subscriptions whose secret is not set: nothing sent


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, cap: timedelta) -> timedelta:
    return min(cap, FIRST_WAIT * GROWTH ** min(max(attempts - 1, 0), 20))


def deliver_due(store: Store, settings: Settings, *, owner: str | None = None, now: datetime | None = None,
                limit: int = 100, stop: threading.Event | None = None,
                client: httpx.Client | None = None) -> DeliverySummary:
    """One run: new events into deliveries, then up to ``limit`` due deliveries sent. ``now`` is for tests."""
    summary = DeliverySummary()
    subscriptions = {w.name: w for w in settings.webhooks}
    if not subscriptions:
        return summary
    owner = owner or owner_id()
    for sub in subscriptions.values():
        with store.transaction() as session:
            summary.written += fan_out(session, sub.name, sub.wants, now=now)
    secrets: dict[str, str] = {}
    for name, sub in subscriptions.items():
        secret = sub.secret.value()
        if secret:
            secrets[name] = secret
        else:
            summary.unsigned.append(name)
            log.error("ALERT webhook secret not set; its deliveries wait", webhook=name, secret=sub.secret.describe())
    live = set(secrets)  # subscriptions this run still sends to
    own_client = client is None
    try:
        for _ in range(limit):
            if not live or (stop is not None and stop.is_set()):
                break
            at = now or utcnow()
            with store.transaction() as session:
                taken = lease(session, owner, ttl=_lease_ttl(subscriptions, live), subscriptions=live, now=at)
            if not taken:
                break
            delivery = taken[0]
            sub = subscriptions[delivery.subscription]
            client = client or httpx.Client(follow_redirects=False)  # made only when there is something to send
            if not _send(store, client, sub, secrets[sub.name], delivery, owner, at, summary):
                live.discard(sub.name)  # it is failing: leave its other deliveries for the next run
    finally:
        if own_client and client is not None:
            client.close()
    return summary


def _lease_ttl(subscriptions: dict[str, WebhookSettings], live: set[str]) -> timedelta:
    # Longer than the slowest request can take, so a lease never runs out under a send still in flight.
    return max(subscriptions[name].timeout for name in live) * 2 + timedelta(seconds=30)


def _send(store: Store, client: httpx.Client, sub: WebhookSettings, secret: str, delivery: LeasedDelivery,
          owner: str, now: datetime, summary: DeliverySummary) -> bool:
    with store.reading() as session:
        event = session.exec(select(OrderEventRow).where(OrderEventRow.seq == delivery.seq)).first()
    if event is None:  # the journal is append-only; only a store emptied by hand gets here
        with store.transaction() as session:
            finish(session, delivery.id, owner, state="failed", error=f"event {delivery.seq} is gone", now=now)
        summary.failed.append(delivery.id)
        return True
    body = json.dumps(FeedEvent(event).as_json() | {"delivery_id": str(delivery.id), "subscription": sub.name},
                      ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": f"connector/{__version__}",
               "X-Connector-Signature": sign(secret, body), "X-Connector-Delivery": str(delivery.id),
               "X-Connector-Event": delivery.kind, "X-Connector-Seq": str(delivery.seq)}
    status, error = None, ""
    try:
        response = client.post(sub.url, content=body, headers=headers, timeout=sub.timeout.total_seconds())
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = strip_userinfo(describe(exc))
    with store.transaction() as session:
        if not error:
            finish(session, delivery.id, owner, state="done", status=status, now=now)
            summary.delivered.append(delivery.id)
            log.info("webhook delivered", webhook=sub.name, delivery=delivery.id, seq=delivery.seq)
            return True
        if now - delivery.created_at >= sub.give_up_after:
            finish(session, delivery.id, owner, state="failed", status=status, now=now,
                   error=f"gave up after {delivery.attempts} attempts: {error}")
            summary.failed.append(delivery.id)
            log.error("ALERT webhook delivery failed for good", webhook=sub.name, delivery=delivery.id, error=error,
                      hint="`connector webhooks retry ID` sends it again")
        else:
            finish(session, delivery.id, owner, state="pending", status=status, error=error, now=now,
                   next_attempt_at=now + backoff(delivery.attempts, sub.max_backoff))
            summary.retrying.append(delivery.id)
            log.warning("webhook delivery failed; will retry", webhook=sub.name, delivery=delivery.id, error=error)
    return False

