"""The outbox: a seller command becomes a row once per idempotency key; pushers lease rows and record outcomes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm
from sqlmodel import Session, select

from connector.domain import Command, Status, utcnow
from connector.errors import CommandInvalid, OrderNotFound
from connector.store.events import EventKind, append, append_for
from connector.store.tables import OPEN_COMMANDS as OPEN
from connector.store.tables import CommandRow, OrderRow


@dataclass(frozen=True, slots=True)
class Enqueued:
    row: CommandRow
    created: bool  # False: the same key was already queued, nothing new was written


def enqueue(session: Session, order: OrderRow, command: Command, *, requested_by: str = "cli",
            key: str | None = None, done: str = "") -> Enqueued:
    """Queue ``command`` for ``order`` unless a command with the same idempotency key exists.

    The command is checked against the order's canonical status first, so an impossible intent (cancel a shipped
    order) is refused before it reaches the outbox. The marketplace's own rules are checked again at push time.
    ``done`` (why nothing is left to do) records the command as already done instead, with that as its result.
    """
    if not done:
        command.check_allowed_from(Status(order.status))
    key = key or command.idempotency_key(f"{order.account}:{order.external_id}")
    existing = session.exec(select(CommandRow).where(CommandRow.idempotency_key == key)).first()
    if existing is not None:
        return Enqueued(existing, created=False)
    now = utcnow()
    row = CommandRow(idempotency_key=key, order_id=order.id, kind=command.kind.value,
                     payload=json.dumps(command.payload(), ensure_ascii=False, sort_keys=True),
                     requested_by=requested_by, created_at=now, updated_at=now, next_attempt_at=now)
    if done:
        row.state, row.result, row.next_attempt_at = "done", done, None
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            if done:
                append(session, EventKind.COMMAND_DONE, order, _command_event(row), now=now)
    except sa.exc.IntegrityError:
        # A concurrent writer queued the same key between our read and our insert.
        return Enqueued(session.exec(select(CommandRow).where(CommandRow.idempotency_key == key)).one(), False)
    return Enqueued(row, created=True)


def _command_event(row: CommandRow) -> dict:
    """What the feed says of a finished command: what it was and how it ended, not its payload (a message to a
    buyer is theirs)."""
    return {"command_id": row.id, "kind": row.kind, "state": row.state, "result": row.result,
            "error": row.last_error, "hint": row.hint, "attempts": row.attempts, "requested_by": row.requested_by}


@dataclass(frozen=True, slots=True)
class Leased:
    """A command taken for pushing, with what the push needs to know about its order."""

    id: int
    kind: str
    payload: dict | None  # None: the stored payload is not a JSON object (an ERP's INSERT gone wrong)
    attempts: int
    order_id: int
    account: str
    external_id: str
    order_status: str


def lease_due(session: Session, owner: str, *, ttl: timedelta, accounts: Collection[str], limit: int = 20,
              settle: timedelta = timedelta(0), now: datetime | None = None) -> list[Leased]:
    """Take up to ``limit`` due commands of ``accounts``: pending ones whose time has come, and in-progress ones
    whose holder's lease ran out ``settle`` ago (it died mid-push; its last write may have been in flight, so it is
    given that long to land; then the adapter re-reads before every step, and picking the command up again never
    repeats a step that landed).

    Commands of one order go one at a time, oldest first: a later one waits while an earlier one is unfinished
    (ship must not overtake accept). On PostgreSQL, rows another daemon is taking are skipped, not waited for
    (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time."""
    now = now or utcnow()
    query = due_query(accounts, limit=limit, settle=settle, now=now)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=CommandRow, skip_locked=True)
    leased = []
    for row, order in session.exec(query).all():
        row.state, row.locked_by, row.locked_until = "in_progress", owner, now + ttl
        row.attempts += 1  # counted when taken, so a command that crashes its pusher cannot loop forever
        row.updated_at = now
        leased.append(Leased(row.id, row.kind, _payload(row.payload), row.attempts, order.id,
                             order.account, order.external_id, order.status))
    return leased


def due_query(accounts: Collection[str], *, limit: int, settle: timedelta, now: datetime):
    """The due commands, oldest first. Every part of it reads only open commands (``state`` pending or in
    progress), through the partial indexes that hold just those (tables.py): its cost follows the open commands,
    never the history, and no planner statistics can make it scan the done ones."""
    c = CommandRow
    earlier = sa.orm.aliased(CommandRow)
    due = sa.or_(sa.and_(c.state == "pending", sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)),
                 sa.and_(c.state == "in_progress", c.locked_until < now - settle))
    blocked = (select(earlier.id).where(earlier.order_id == c.order_id, earlier.id < c.id,
                                        earlier.state.in_(OPEN)).exists())
    return (select(c, OrderRow).join(OrderRow, OrderRow.id == c.order_id)
            .where(c.state.in_(OPEN), due, ~blocked, OrderRow.account.in_(list(accounts)))
            .order_by(c.id).limit(limit))


def _payload(text: str | None) -> dict | None:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def finish(session: Session, command_id: int, owner: str, *, state: str, error: str = "", hint: str = "",
           result: str = "", next_attempt_at: datetime | None = None, refund_attempt: bool = False) -> bool:
    """Record a push's outcome, only if we still hold the lease (a holder whose lease expired and was taken over
    must not overwrite the new holder's outcome). ``refund_attempt`` gives back the attempt this lease counted
    (the account was paused: the command never got a fair try)."""
    c = CommandRow
    values: dict = {"state": state, "last_error": error, "hint": hint, "locked_by": "", "locked_until": None,
                    "next_attempt_at": next_attempt_at, "updated_at": utcnow()}
    if result:
        values["result"] = result
    if refund_attempt:
        values["attempts"] = c.attempts - 1
    done = session.execute(sa.update(c).where(c.id == command_id, c.locked_by == owner).values(**values),
                           execution_options={"synchronize_session": False})
    if done.rowcount == 1 and state in ("done", "failed"):
        row = session.exec(select(c).where(c.id == command_id).execution_options(populate_existing=True)).one()
        append_for(session, EventKind.COMMAND_DONE if state == "done" else EventKind.COMMAND_FAILED, row.order_id,
                   _command_event(row))
    return done.rowcount == 1


def renew(session: Session, command_id: int, owner: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Extend our lease on a command we are pushing (the heartbeat); False if it is no longer ours."""
    c = CommandRow
    done = session.execute(sa.update(c).where(c.id == command_id, c.locked_by == owner, c.state == "in_progress")
                           .values(locked_until=(now or utcnow()) + ttl),
                           execution_options={"synchronize_session": False})
    return done.rowcount == 1


def requeue(session: Session, command_id: int) -> CommandRow:
    """A failed (or cancelled) command back to pending, with a fresh attempt count: ``connector outbox retry``."""
    row = session.get(CommandRow, command_id)
    if row is None:
        raise OrderNotFound(f"no command {command_id}", hint="list them with `connector outbox`")
    if row.state not in ("failed", "cancelled"):
        raise CommandInvalid(f"command {command_id} is {row.state}; only failed or cancelled commands are retried")
    row.state, row.attempts, row.last_error, row.hint = "pending", 0, "", ""
    row.next_attempt_at = row.updated_at = utcnow()
    return row


def cancel(session: Session, command_id: int) -> CommandRow:
    row = session.get(CommandRow, command_id)
    if row is None:
        raise OrderNotFound(f"no command {command_id}", hint="list them with `connector outbox`")
    if row.state != "pending":
        raise CommandInvalid(f"command {command_id} is {row.state}; only a pending command can be cancelled")
    row.state, row.updated_at = "cancelled", utcnow()
    return row


def list_commands(session: Session, *, state: str | None = None, limit: int = 100) -> list[tuple[CommandRow, OrderRow]]:
    query = (select(CommandRow, OrderRow).join(OrderRow, OrderRow.id == CommandRow.order_id)
             .order_by(CommandRow.id.desc()).limit(limit))
    if state:
        query = query.where(CommandRow.state == state)
    return list(session.exec(query).all())
