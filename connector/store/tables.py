"""The canonical store's tables. ERPs read these; docs/erp-contract.md says which columns are stable.

Every timestamp is UTC and timezone-aware on the way out, on SQLite too (``UTCDateTime``). Money is NUMERIC, never
float. Enumerations are stored as their string values so a reader needs no lookup table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite drops the zone, so it is put back on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing to store a naive datetime {value!r}: the store is UTC-only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(**kw) -> object:
    return Field(sa_type=UTCDateTime, **kw)


def _money(**kw) -> object:
    return Field(sa_type=sa.Numeric(14, 2), **kw)


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (sa.UniqueConstraint("marketplace", "account", "external_id", name="uq_orders_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    marketplace: str = Field(max_length=32)
    account: str = Field(max_length=64, index=True)
    external_id: str = Field(max_length=64)
    status: str = Field(max_length=32, index=True)
    progress: int = -1
    marketplace_status: str = Field(max_length=64)
    marketplace_status_label: str = Field(default="", max_length=255)
    payment_status: str = Field(default="unknown", max_length=32)
    cancel_reason: str | None = Field(default=None, max_length=32)
    currency: str = Field(max_length=3)
    total: Decimal = _money()  # what the buyer pays, on every marketplace
    seller_net: Decimal | None = _money(default=None)  # what the seller receives, where the marketplace shows it
    buyer_name: str = Field(default="", max_length=255)
    buyer_phone: str = Field(default="", max_length=64)
    buyer_email: str = Field(default="", max_length=255)
    created_at: datetime = _utc()
    changed_at: datetime = _utc(index=True)
    status_changed_at: datetime | None = _utc(default=None)
    synced_at: datetime = _utc(index=True)  # ERPs poll "what changed since" by it
    payload_sha256: str = Field(default="", max_length=64)
    needs_review: bool = Field(default=False, index=True)
    review_reason: str = Field(default="", max_length=500)
    # The buyer may return the goods until then: counted from the carrier's delivery time where the account's
    # tracking rules give a return window.
    return_deadline: datetime | None = _utc(default=None)
    # Optimistic concurrency: every update is ``WHERE version = :seen`` and bumps it (store/orders.py).
    version: int = Field(default=1)


class OrderLineRow(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (sa.UniqueConstraint("order_id", "position", name="uq_order_lines_position"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", ondelete="CASCADE", index=True)
    position: int
    sku: str = Field(default="", max_length=128)
    marketplace_item_id: str = Field(default="", max_length=64)
    name: str = Field(default="", max_length=500)
    quantity: int
    unit_price: Decimal = _money()


class ShipmentRow(SQLModel, table=True):
    __tablename__ = "shipments"
    __table_args__ = (sa.UniqueConstraint("order_id", "ttn", name="uq_shipments_ttn"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", ondelete="CASCADE", index=True)
    carrier: str = Field(max_length=32)
    ttn: str = Field(max_length=64, index=True)
    status: str = Field(default="created", max_length=32)
    carrier_status_code: str = Field(default="", max_length=32)
    carrier_status_text: str = Field(default="", max_length=500)
    carrier_updated_at: datetime | None = _utc(default=None)
    created_at: datetime = _utc()
    checked_at: datetime | None = _utc(default=None)
    # The tracking job (connector/sync/track.py): when to ask the carrier next, and why it is not asked at all
    # ('' while it is tracked: the carrier is not configured, its login was refused, no carrier is known).
    next_check_at: datetime | None = _utc(default=None, index=True)
    not_tracked: str = Field(default="", sa_type=sa.Text)
    delivered_at: datetime | None = _utc(default=None)
    storage_until: datetime | None = _utc(default=None)  # free storage at the pickup point ends


class ShipmentEventRow(SQLModel, table=True):
    """Append-only: each thing a carrier reported about a parcel, once (``fingerprint`` over code, time, place,
    words), with the carrier's own code and words and the canonical status they mean."""

    __tablename__ = "shipment_events"
    __table_args__ = (sa.UniqueConstraint("shipment_id", "fingerprint", name="uq_shipment_events_once"),)

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", ondelete="CASCADE", index=True)
    fingerprint: str = Field(max_length=64)
    code: str = Field(default="", max_length=32)
    text: str = Field(default="", sa_type=sa.Text)
    status: str = Field(max_length=32)
    place: str = Field(default="", max_length=255)
    occurred_at: datetime | None = _utc(default=None)
    recorded_at: datetime = _utc()


class StatusHistoryRow(SQLModel, table=True):
    """Append-only. One row per proposed status change, applied or not (``outcome`` says which)."""

    __tablename__ = "status_history"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", ondelete="CASCADE", index=True)
    recorded_at: datetime = _utc()
    occurred_at: datetime | None = _utc(default=None)
    actor: str = Field(max_length=16)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str = Field(max_length=32)
    outcome: str = Field(max_length=32)
    marketplace_status: str = Field(default="", max_length=64)
    marketplace_status_label: str = Field(default="", max_length=255)
    comment: str = Field(default="", sa_type=sa.Text)


class RawPayloadRow(SQLModel, table=True):
    """The marketplace's own words for an order, each distinct version once: for remapping and audit."""

    __tablename__ = "raw_payloads"
    __table_args__ = (sa.UniqueConstraint("order_id", "sha256", name="uq_raw_payloads_body"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", ondelete="CASCADE", index=True)
    received_at: datetime = _utc()
    content_type: str = Field(max_length=64)
    sha256: str = Field(max_length=64)  # of the body as received, compressed or not
    # One of the two holds the body (connector/store/payloads.py): zlib in body_z with body "", or the text in body.
    body: str = Field(sa_type=sa.Text)
    body_z: bytes | None = Field(default=None, sa_type=sa.LargeBinary)


class QuarantineRow(SQLModel, table=True):
    """Records that could not become an order (no usable id, or a value the store refused even after the mapper's
    checks): kept whole with the reason, once per distinct body, until a person looks."""

    __tablename__ = "quarantine"
    __table_args__ = (sa.UniqueConstraint("account", "sha256", name="uq_quarantine_body"),)

    id: int | None = Field(default=None, primary_key=True)
    marketplace: str = Field(max_length=32)
    account: str = Field(max_length=64, index=True)
    external_id: str = Field(default="", sa_type=sa.Text)  # as the marketplace gave it, however long
    reason: str = Field(sa_type=sa.Text)
    content_type: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    body: str = Field(sa_type=sa.Text)
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    times_seen: int = 1


class SyncCursorRow(SQLModel, table=True):
    """Per (account, stream) high-water mark, advanced only in the transaction that stored its page."""

    __tablename__ = "sync_cursors"

    account: str = Field(max_length=64, primary_key=True)
    stream: str = Field(max_length=32, primary_key=True)
    value: str = Field(sa_type=sa.Text)
    updated_at: datetime = _utc()


OPEN_COMMANDS = ("pending", "in_progress")
_OPEN = sa.text("state IN ('pending', 'in_progress')")


class CommandRow(SQLModel, table=True):
    """The outbox: seller commands waiting to be pushed. ERPs may insert rows here (docs/erp-contract.md)."""

    __tablename__ = "commands"
    # Partial indexes of the open commands only: the push job's lease query reads nothing else (commands.py:
    # due_query), so it stays fast as the done ones pile up, whatever the planner's statistics say.
    __table_args__ = (
        sa.Index("ix_commands_open", "id", postgresql_where=_OPEN, sqlite_where=_OPEN),
        sa.Index("ix_commands_open_order", "order_id", "id", postgresql_where=_OPEN, sqlite_where=_OPEN),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    order_id: int = Field(foreign_key="orders.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=32)
    payload: str = Field(default="{}", sa_type=sa.Text)
    state: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = _utc(default=None)
    locked_until: datetime | None = _utc(default=None)
    locked_by: str = Field(default="", max_length=128)
    last_error: str = Field(default="", sa_type=sa.Text)
    hint: str = Field(default="", sa_type=sa.Text)
    result: str = Field(default="", sa_type=sa.Text)  # what the push did: the requests sent, the steps skipped
    requested_by: str = Field(default="cli", max_length=64)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class AccountStateRow(SQLModel, table=True):
    """Per-account run state: the pull lease (one daemon pulls an account at a time), a pause after an auth
    failure, and what health checks report."""

    __tablename__ = "account_state"

    account: str = Field(max_length=64, primary_key=True)
    lease_owner: str = Field(default="", max_length=128)
    lease_until: datetime | None = _utc(default=None)
    paused_until: datetime | None = _utc(default=None)
    paused_reason: str = Field(default="", sa_type=sa.Text)
    last_pull_at: datetime | None = _utc(default=None)
    last_pull_ok_at: datetime | None = _utc(default=None)
    last_error: str = Field(default="", sa_type=sa.Text)
    failures: int = 0  # consecutive failed runs


class OrderEventRow(SQLModel, table=True):
    """The change feed (append-only): what happened to an order, in the order the store committed it.

    ``seq`` is the feed position: NULL while the writing transaction is open, set just before it commits, under
    the one-row ``feed_counter`` lock (connector/store/events.py). So positions are given in commit order, without
    gaps, and a reader that remembers the last ``seq`` it saw gets every later change exactly once. ``id`` is only a
    row id: it is given at insert, not at commit, and a reader must never follow it."""

    __tablename__ = "order_events"

    id: int | None = Field(default=None, primary_key=True)
    seq: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True)
    kind: str = Field(max_length=32, index=True)  # order.created, order.status_changed, shipment.changed, …
    order_id: int = Field(index=True)  # no foreign key: the journal outlives what it speaks of
    marketplace: str = Field(max_length=32)
    account: str = Field(max_length=64)
    external_id: str = Field(max_length=64)
    data: str = Field(default="{}", sa_type=sa.Text)  # a JSON object; never buyer data (retention purges that)
    recorded_at: datetime = _utc()


class FeedCounterRow(SQLModel, table=True):
    """The last feed position given. One row; updating it is the lock that orders the feed's writers."""

    __tablename__ = "feed_counter"

    name: str = Field(max_length=32, primary_key=True)
    value: int = Field(default=0, sa_type=sa.BigInteger)


class ApiKeyRow(SQLModel, table=True):
    """Keys of the HTTP API. Only the key's SHA-256 is kept: the key itself is shown once, when it is made."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    key_sha256: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # the key's first characters, to tell keys apart in a list
    scope: str = Field(max_length=8)  # read | write
    created_at: datetime = _utc()
    revoked_at: datetime | None = _utc(default=None)


class WebhookCursorRow(SQLModel, table=True):
    """Per subscription: the feed position up to which its deliveries have been written."""

    __tablename__ = "webhook_cursors"

    subscription: str = Field(max_length=64, primary_key=True)
    position: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: datetime = _utc()


class WebhookDeliveryRow(SQLModel, table=True):
    """One event to one subscription: leased like the outbox, so it is never sent twice at once, and retried with
    capped backoff until it is delivered or too old."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("subscription", "seq", name="uq_webhook_deliveries_once"),
        sa.Index("ix_webhook_deliveries_open", "next_attempt_at", postgresql_where=_OPEN, sqlite_where=_OPEN),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription: str = Field(max_length=64)
    seq: int = Field(sa_type=sa.BigInteger)  # the event's feed position
    kind: str = Field(max_length=32)
    state: str = Field(default="pending", max_length=16, index=True)  # pending, in_progress, done, failed
    attempts: int = 0
    next_attempt_at: datetime | None = _utc(default=None)
    locked_by: str = Field(default="", max_length=128)
    locked_until: datetime | None = _utc(default=None)
    last_status: int | None = None  # the receiver's HTTP status on the last attempt
    last_error: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    delivered_at: datetime | None = _utc(default=None)


METADATA = SQLModel.metadata
