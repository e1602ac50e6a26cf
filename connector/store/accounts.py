"""Per-account run state: leases so one daemon pulls an account at a time, pauses after auth failures, health.

A lease is one conditional UPDATE, the same on SQLite and PostgreSQL: it takes the row only if nobody holds it or
the holder's lease ran out (a crashed daemon's lease simply expires).

Pauses: a refused login pauses the account for a while, and the fingerprint of the secret that was refused is kept
(a slow salted hash, never the secret: config.AccountSettings.secret_fingerprint). The pause outlives restarts, so
a daemon restarted in a loop does not try a wrong password each time; it ends early when the secret in the
environment or the file is no longer the one refused. An operator's pause (`connector account pause`) has no
fingerprint and lasts until `connector account resume`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import utcnow
from connector.store.tables import AccountStateRow, CommandRow, SyncCursorRow

# The refused secret's fingerprint is one row of sync_cursors under this stream: per-account state that needs no
# column (and so no migration); no pull ever reads a cursor of this name.
FAILED_SECRET = "~failed_secret"
OPERATOR = "paused by an operator"  # the start of an operator's pause reason
OPERATOR_PAUSE = timedelta(days=36500)  # "until resumed": far enough, and still a date every store holds


def _ensure(session: Session, account: str) -> None:
    if session.get(AccountStateRow, account) is None:
        try:
            with session.begin_nested():
                session.add(AccountStateRow(account=account))
                session.flush()
        except sa.exc.IntegrityError:
            pass  # another daemon created it a moment ago


def acquire(session: Session, account: str, owner: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take or renew the account's lease; False if another live holder has it."""
    now = now or utcnow()
    t = AccountStateRow
    take = (sa.update(t).where(t.account == account,
                               sa.or_(t.lease_until.is_(None), t.lease_until < now, t.lease_owner == owner))
            .values(lease_owner=owner, lease_until=now + ttl))
    # Renewal is the common case (every page of a pull): one statement; the row is made only when it is missing.
    if session.execute(take, execution_options={"synchronize_session": False}).rowcount == 1:
        return True
    if session.get(AccountStateRow, account) is not None:
        return False  # another live holder has it
    _ensure(session, account)
    return session.execute(take, execution_options={"synchronize_session": False}).rowcount == 1


def last_good_pull(session: Session, account: str) -> datetime | None:
    """When the account's last successful pull ended, by whichever daemon."""
    t = AccountStateRow
    return session.execute(select(t.last_pull_ok_at).where(t.account == account)).scalar()


def release(session: Session, account: str, owner: str) -> None:
    t = AccountStateRow
    session.execute(sa.update(t).where(t.account == account, t.lease_owner == owner)
                    .values(lease_owner="", lease_until=None), execution_options={"synchronize_session": False})


def record_run(session: Session, account: str, *, ok: bool, error: str = "", now: datetime | None = None) -> None:
    now = now or utcnow()
    _ensure(session, account)
    t = AccountStateRow
    values = {"last_pull_at": now, "last_error": error[:2000]}
    if ok:
        values |= {"last_pull_ok_at": now, "failures": 0}
    else:
        values |= {"failures": t.failures + 1}
    session.execute(sa.update(t).where(t.account == account).values(**values),
                    execution_options={"synchronize_session": False})


def pause(session: Session, account: str, reason: str, until: datetime) -> None:
    _ensure(session, account)
    t = AccountStateRow
    session.execute(sa.update(t).where(t.account == account).values(paused_until=until, paused_reason=reason[:2000]),
                    execution_options={"synchronize_session": False})


def resume(session: Session, account: str | None = None) -> None:
    t = AccountStateRow
    query = sa.update(t).values(paused_until=None, paused_reason="")
    if account is not None:
        query = query.where(t.account == account)
    session.execute(query, execution_options={"synchronize_session": False})
    c = SyncCursorRow
    forget = sa.delete(c).where(c.stream == FAILED_SECRET)
    if account is not None:
        forget = forget.where(c.account == account)
    session.execute(forget, execution_options={"synchronize_session": False})


def hold(session: Session, account: str, comment: str = "", now: datetime | None = None) -> None:
    """An operator's pause: no pull, no push, until `connector account resume`; a secret change does not end it."""
    now = now or utcnow()
    pause(session, account, f"{OPERATOR}: {comment}" if comment else OPERATOR, until=now + OPERATOR_PAUSE)
    _forget_secret(session, account)


def remember_failed_secret(session: Session, account: str, fingerprint: str) -> None:
    """The fingerprint of the secret a paused account's login was refused with."""
    row = session.get(SyncCursorRow, (account, FAILED_SECRET))
    if row is None:
        session.add(SyncCursorRow(account=account, stream=FAILED_SECRET, value=fingerprint, updated_at=utcnow()))
    else:
        row.value, row.updated_at = fingerprint, utcnow()


def _forget_secret(session: Session, account: str) -> None:
    c = SyncCursorRow
    session.execute(sa.delete(c).where(c.account == account, c.stream == FAILED_SECRET),
                    execution_options={"synchronize_session": False})


def failed_secrets(session: Session) -> dict[str, str]:
    c = SyncCursorRow
    return dict(session.exec(select(c.account, c.value).where(c.stream == FAILED_SECRET)).all())


def resume_if_secret_changed(session: Session, account: str, fingerprint: Callable[[], str | None],
                             now: datetime | None = None) -> bool:
    """End a credentials pause whose secret is no longer the one refused; True if it ended. ``fingerprint`` is
    called only for an account paused with a fingerprint kept (it reads the secret and hashes it slowly); None
    (the secret cannot be read now) changes nothing."""
    now = now or utcnow()
    refused = failed_secrets_of(session, account)
    if refused is None or account not in paused_accounts(session, now):
        return False
    current = fingerprint()
    if current is None or current == refused:
        return False
    resume(session, account)
    return True


def failed_secrets_of(session: Session, account: str) -> str | None:
    row = session.get(SyncCursorRow, (account, FAILED_SECRET))
    return row.value if row else None


PauseKind = Literal["credentials", "operator", "other"]


def pause_kind(state: AccountStateRow, refused: str | None) -> PauseKind:
    """Why an account is paused: its login was refused (a fingerprint kept), an operator, or an older pause."""
    if refused is not None:
        return "credentials"
    return "operator" if state.paused_reason.startswith(OPERATOR) else "other"


def paused_accounts(session: Session, now: datetime | None = None) -> set[str]:
    now = now or utcnow()
    t = AccountStateRow
    return set(session.exec(select(t.account).where(t.paused_until.is_not(None), t.paused_until > now)).all())


def states(session: Session) -> dict[str, AccountStateRow]:
    return {row.account: row for row in session.exec(select(AccountStateRow)).all()}


def reclaim_dead_local_leases(session: Session, host: str, alive: Callable[[int], bool], *,
                              settle: timedelta, accounts: Collection[str] | None = None,
                              commands: bool = True, now: datetime | None = None) -> list[str]:
    """Leases held by processes on this host that are gone (a killed daemon or `sync --once`): free them now
    instead of waiting for them to run out. Owners are ``host:pid:nonce``.

    A pull lease is free at once: a page is read again, never written twice. A push is given back as pending only
    after ``settle``: the dead holder's last write may still be in flight and must land before anyone re-reads the
    order (or it would be sent again). ``accounts`` limits the pull leases looked at; ``commands`` False skips the
    push leases."""
    now = now or utcnow()
    freed: list[str] = []
    a = AccountStateRow
    query = select(a.account, a.lease_owner).where(a.lease_owner.like(f"{host}:%"))
    if accounts is not None:
        query = query.where(a.account.in_(list(accounts)))
    for account, owner in session.exec(query).all():
        if _dead(owner, alive):
            release(session, account, owner)
            freed.append(f"account_state:{account}")
    if commands:
        c = CommandRow
        for command_id, owner in session.exec(select(c.id, c.locked_by).where(
                c.state == "in_progress", c.locked_by.like(f"{host}:%"))).all():
            if _dead(owner, alive):
                session.execute(sa.update(c).where(c.id == command_id, c.locked_by == owner)
                                .values(state="pending", locked_by="", locked_until=None,
                                        next_attempt_at=now + settle),
                                execution_options={"synchronize_session": False})
                freed.append(f"commands:{command_id}")
    return freed


def _dead(owner: str, alive: Callable[[int], bool]) -> bool:
    pid = owner.split(":")[1] if owner.count(":") >= 2 else ""
    return pid.isdigit() and not alive(int(pid))
