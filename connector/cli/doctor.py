"""``connector doctor``: is this installation ready to run? Every check says what to do when it fails.

Online (the default) it also logs in to every account and carrier, read-only, and says which secret was refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

import click
import httpx
from rich.table import Table
from sqlmodel import Session

from adapters.base import HttpPolicy, Parcel
from adapters.factory import build_adapter, build_carrier
from connector.cli.app import (
    DurationType, Context, account_option, cli, json_option, out, pass_context, print_json, require_migrated, safe,
)
from connector.config import AccountSettings, CarrierSettings, Settings
from connector.domain import utcnow
from connector.errors import AuthError, ConnectorError, TransientError, describe
from connector.logs import strip_userinfo
from connector.store import Store
from connector.store.tables import SyncCursorRow
from mappings import load


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_store(store: Store) -> list[Check]:
    """Reachable, migrated, and able to write and read back (in a transaction that is rolled back)."""
    try:
        store.ping()
        require_migrated(store)
    except ConnectorError as exc:
        return [Check("store", False, str(exc))]
    probe = SyncCursorRow(account="~doctor", stream="probe", value=utcnow().isoformat(), updated_at=utcnow())
    try:
        with store.engine.connect() as conn, conn.begin() as tx:
            with Session(bind=conn) as session:
                session.add(probe)
                session.flush()
                read = session.get(SyncCursorRow, ("~doctor", "probe"))
                roundtrip = read is not None and read.value == probe.value
            tx.rollback()
    except Exception as exc:  # noqa: BLE001  (doctor reports whatever broke)
        # describe(): a database error's own text carries the statement and its parameters
        return [Check("store", False, f"{store.safe_url}: {describe(exc)}")]
    return [Check("store", roundtrip, f"{store.safe_url}: schema current, write/read round-trip "
                                      + ("ok" if roundtrip else "FAILED"))]


def check_accounts(settings: Settings, *, local: bool, only: tuple[str, ...] = ()) -> list[Check]:
    """Would the daemon start each enabled account? It builds the same adapter (no request is made), so an
    unset secret or a missing mapping file fails here as it would leave the account out of `connector run`.
    With ``local``, only the mapping (no secrets are read)."""
    checks = []
    for account in settings.accounts:
        if not account.enabled or (only and account.name not in only):
            continue
        try:
            if local:
                vocabulary = load(account.marketplace, account.mapping)
                detail = f"mapping {vocabulary.source}"
            else:
                build_adapter(account).close()
                detail = "starts: secrets present, mapping loads"
            checks.append(Check(f"account {account.name}", True, detail))
        except ConnectorError as exc:
            checks.append(Check(f"account {account.name}", False, f"not started by `connector run`: {exc}"))
    return checks


def check_credentials(settings: Settings, only: tuple[str, ...] = ()) -> list[Check]:
    checks = []
    for account in settings.accounts:
        if only and account.name not in only:
            continue
        for what, secret in account.secrets().items():
            try:
                present = secret.value() is not None
                detail = f"{what} from {secret.describe()}" + ("" if present else " is not set: export it")
            except ConnectorError as exc:
                present, detail = False, str(exc)
            checks.append(Check(f"credentials {account.name}", present, detail))
    for name, carrier in settings.carriers.items():
        if only:
            break
        try:
            unset = carrier.unset_secrets(name)
            detail = f"not set: export {', '.join(unset)}" if unset else "secrets present"
        except ConnectorError as exc:
            unset, detail = ["?"], str(exc)
        checks.append(Check(f"credentials {name}", not unset, detail))
    return checks


def check_reachable(settings: Settings, timeout: float = 5.0, only: tuple[str, ...] = ()) -> list[Check]:
    """Any HTTP answer counts: this asks whether the host is there, not whether we are logged in."""
    targets = [(a.name, a.base_url) for a in settings.accounts if a.enabled and (not only or a.name in only)]
    targets += [(name, c.base_url) for name, c in settings.carriers.items() if not only]
    checks = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for name, url in targets:
            shown = strip_userinfo(url)  # a base_url may carry user:password@; the report never does
            try:
                response = client.get(url)
                checks.append(Check(f"reach {name}", True, f"{shown} answered HTTP {response.status_code}"))
            except httpx.HTTPError as exc:
                checks.append(Check(f"reach {name}", False, strip_userinfo(
                    f"{shown}: {type(exc).__name__} {exc}; check base_url and the network")))
    return checks


# A number of the carrier's format that names no parcel: asking about it is the cheapest read that needs the login.
PROBE_TTN = {"novaposhta": "20000000000000", "ukrposhta": "0500000000000", "econt": "1000000000000",
             "speedy": "100000000000"}


def _refused(what: str, where: str, exc: AuthError) -> str:
    return f"refused the {what} in {where}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")


def _login_account(account: AccountSettings, policy: HttpPolicy) -> str:
    """Log in as the account does, reading nothing that changes anything: the login itself where the client has
    one (Rozetka with a password, Chopni), else the smallest read (one order of Prom; Rozetka's orders changed
    from now on, which is none). Returns what was done; raises what the marketplace said."""
    adapter = build_adapter(account, policy=policy)
    try:
        client = adapter.client  # every marketplace adapter keeps its client here
        if account.marketplace == "rozetka":
            if "token" in account.secrets():
                from adapters.rozetka import mapper

                client.search_orders({"types": 1, "page": 1, "changed_from": mapper.to_kyiv(utcnow())})
                return "the API token is accepted (searched orders changed from now: none read)"
            client.login()
            return f"logged in as {account.username}"
        if account.marketplace == "chopni":
            client.login()
            return f"logged in to the seller panel as {account.email}"
        if account.marketplace == "promua":
            client.list_orders({"limit": 1})
            return "the API token is accepted (read one order at most)"
        return "no login check for this marketplace: secrets present only"
    finally:
        adapter.close()


def check_logins(settings: Settings, timeout: timedelta, only: tuple[str, ...] = (),
                 skip: set[str] = frozenset()) -> list[Check]:
    """Log in to every enabled account and carrier for real, read-only, and name the secret that was refused.
    One attempt each, within ``timeout``: a doctor must not lock a login with retries. ``skip``: names whose host
    did not answer or whose secret is unset (already failed above)."""
    seconds = timeout.total_seconds()
    policy = HttpPolicy(timeout=seconds, deadline=seconds, attempts=1, max_total=seconds)
    checks = []
    for account in settings.accounts:
        if not account.enabled or (only and account.name not in only) or account.name in skip:
            continue
        what, secret = next(iter(account.secrets().items()))
        try:
            detail = _login_account(account, policy)
            checks.append(Check(f"login {account.name}", True, detail))
        except AuthError as exc:
            checks.append(Check(f"login {account.name}", False,
                                f"{account.marketplace} " + _refused(what, secret.describe(), exc)))
        except TransientError as exc:
            checks.append(Check(f"login {account.name}", False, f"no answer to the login: {exc.message}"))
        except ConnectorError as exc:
            checks.append(Check(f"login {account.name}", False, f"the login failed: {exc}"))
    for name, carrier in settings.carriers.items():
        if only or not carrier.enabled or name in skip:
            continue
        checks.append(_login_carrier(name, carrier, policy))
    return checks


def _login_carrier(name: str, carrier: CarrierSettings, policy: HttpPolicy) -> Check:
    secrets = " and ".join(x.describe() for x in (carrier.api_key, carrier.password) if x.env or x.file)
    probe = PROBE_TTN.get(name)
    if probe is None:
        return Check(f"login {name}", True, "no login check for this carrier: secrets present only")
    try:
        adapter = build_carrier(name, carrier, policy=policy)
        try:
            adapter.track([Parcel(ttn=probe)])
        finally:
            adapter.close()
    except AuthError as exc:
        return Check(f"login {name}", False, f"{name} " + _refused("secret", secrets or "the configuration", exc))
    except TransientError as exc:
        return Check(f"login {name}", False, f"no answer: {exc.message}")
    except ConnectorError:
        pass  # the login was taken and the probe number refused: what this check asks is answered
    return Check(f"login {name}", True, f"the {secrets or 'login'} is accepted (asked about a number that "
                                        "names no parcel)")


@cli.command("doctor")
@click.option("--offline", "--local", "offline", is_flag=True,
              help="Check only this machine (configuration, store, mapping files): no secrets read, no network. "
                   "--local is the same.")
@account_option("Only this account's checks (repeatable); carriers are then left out.")
@click.option("--timeout", type=DurationType(maximum=timedelta(minutes=2)), default="10s", show_default=True,
              help="How long each login and each host may take to answer.")
@json_option
@pass_context
def doctor(c: Context, offline: bool, accounts: tuple[str, ...], timeout: timedelta, as_json: bool) -> None:
    """Check the configuration, the store, the credentials, that every host answers, and log in to every account
    and carrier (read-only, one attempt each), naming the secret that was refused.

    Exits 1 if any check fails."""
    settings = c.settings  # a bad configuration stops here with exit code 2 and the key's path
    for name in accounts:
        settings.account(name)  # an unknown name is a usage error
    checks = [Check("config", True, f"{len(settings.accounts)} account(s), {len(settings.carriers)} carrier(s)")]
    # opened here, not through c.store(): an unreachable store is a failed check in the report, not its end
    checks += check_store(Store(settings.store.url))
    checks += check_accounts(settings, local=offline, only=accounts)
    if not offline:
        checks += check_credentials(settings, accounts) + check_reachable(settings, timeout.total_seconds(), accounts)
        # no login where the account cannot start, its secret is unset, or its host did not answer: said above
        failed = {x.name.split(" ", 1)[1] for x in checks if not x.ok and " " in x.name}
        checks += check_logins(settings, timeout, accounts, skip=failed)
    if as_json:
        print_json([asdict(x) for x in checks])
    else:
        table = Table(title="connector doctor" + (" (offline: no secrets, no network)" if offline else ""))
        table.add_column("check")
        table.add_column("")
        table.add_column("detail")
        for x in checks:  # details quote drivers, hosts and files: text, never markup
            table.add_row(safe(x.name), "[green]ok[/]" if x.ok else "[red]FAIL[/]", safe(x.detail))
        out.print(table)
    if not all(x.ok for x in checks):
        raise click.exceptions.Exit(1)
