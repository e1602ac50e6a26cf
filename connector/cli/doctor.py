"""``connector doctor``: is this installation ready to run? Every check says what to do when it fails."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import click
import httpx
from rich.table import Table
from sqlmodel import Session

from adapters.factory import build_adapter
from connector.cli.app import Context, cli, json_option, out, pass_context, print_json, require_migrated, safe
from connector.config import Settings
from connector.domain import utcnow
from connector.errors import ConnectorError, describe
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


def check_accounts(settings: Settings, *, local: bool) -> list[Check]:
    """Would the daemon start each enabled account? It builds the same adapter (no request is made), so an
    unset secret or a missing mapping file fails here as it would leave the account out of `connector run`.
    With ``local``, only the mapping (no secrets are read)."""
    checks = []
    for account in settings.accounts:
        if not account.enabled:
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


def check_credentials(settings: Settings) -> list[Check]:
    checks = []
    for account in settings.accounts:
        for what, secret in account.secrets().items():
            try:
                present = secret.value() is not None
                detail = f"{what} from {secret.describe()}" + ("" if present else " is not set: export it")
            except ConnectorError as exc:
                present, detail = False, str(exc)
            checks.append(Check(f"credentials {account.name}", present, detail))
    for name, carrier in settings.carriers.items():
        try:
            unset = carrier.unset_secrets(name)
            detail = f"not set: export {', '.join(unset)}" if unset else "secrets present"
        except ConnectorError as exc:
            unset, detail = ["?"], str(exc)
        checks.append(Check(f"credentials {name}", not unset, detail))
    return checks


def check_reachable(settings: Settings, timeout: float = 5.0) -> list[Check]:
    """Any HTTP answer counts: this asks whether the host is there, not whether we are logged in."""
    targets = [(a.name, a.base_url) for a in settings.accounts if a.enabled]
    targets += [(name, c.base_url) for name, c in settings.carriers.items()]
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


@cli.command("doctor")
@click.option("--local", is_flag=True,
              help="Check only this machine (configuration and store): no credentials, no network.")
@json_option
@pass_context
def doctor(c: Context, local: bool, as_json: bool) -> None:
    """Check the configuration, the store, the credentials and that every account's host answers.

    Exits 1 if any check fails."""
    settings = c.settings  # a bad configuration stops here with exit code 2 and the key's path
    checks = [Check("config", True, f"{len(settings.accounts)} account(s), {len(settings.carriers)} carrier(s)")]
    # opened here, not through c.store(): an unreachable store is a failed check in the report, not its end
    checks += check_store(Store(settings.store.url))
    checks += check_accounts(settings, local=local)
    if not local:
        checks += check_credentials(settings) + check_reachable(settings)
    if as_json:
        print_json([asdict(x) for x in checks])
    else:
        table = Table(title="connector doctor" + (" (local checks only)" if local else ""))
        table.add_column("check")
        table.add_column("")
        table.add_column("detail")
        for x in checks:  # details quote drivers, hosts and files: text, never markup
            table.add_row(safe(x.name), "[green]ok[/]" if x.ok else "[red]FAIL[/]", safe(x.detail))
        out.print(table)
    if not all(x.ok for x in checks):
        raise click.exceptions.Exit(1)
