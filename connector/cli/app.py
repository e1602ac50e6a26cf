"""The ``connector`` command line. Exit codes: 0 success, 1 a job or check failed, 2 bad usage or configuration.

Data goes to stdout (tables, or pure JSON with ``--json``); logs and progress go to stderr, so output pipes cleanly.
The same option means the same thing everywhere: ``--json``, ``--account NAME`` (repeatable), ``--comment TEXT``
(free text that goes with an action), durations such as ``30s`` or ``5m``. Times are local in tables, UTC in JSON.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import click
import sqlalchemy as sa
from rich.console import Console
from rich.markup import escape

from connector import __version__
from connector.config import CONFIG_ENV, Settings, load_settings, parse_duration
from connector.domain.limits import clean_text
from connector.errors import ConnectorError, StoreNotMigrated, describe
from connector.logs import configure as configure_logging
from connector.logs import get_logger
from connector.store import Store
from connector.store.migrate import current_revision, head_revision

EXIT_CODES = "Exit codes: 0 success; 1 a job or check failed; 2 bad usage or configuration."

# stdout: the data. Off a terminal rich would assume 80 columns and cut cells; piped tables get room instead.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)  # stderr: messages for the person at the terminal


def print_json(data: object) -> None:
    # print(), not rich: rich would colour and wrap, and the output must stay pure JSON
    print(json.dumps(data, ensure_ascii=False, indent=2))


# C0 controls but tab and newline, DEL, and C1: some terminals obey U+009B as they obey ESC [.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# The largest id the store's integer columns hold (PostgreSQL ``integer``): a larger one names nothing, and
# asking the database for it fails with a driver error instead of "no such order".
ID_MAX = 2**31 - 1


def plain(text: object) -> str:
    """Text from outside for a print with ``markup=False``: control characters, and so escape sequences,
    dropped (tabs, newlines and indentation kept)."""
    return "" if text is None else _CONTROLS.sub("", str(text))


def safe(text: object) -> str:
    """Text from outside (a marketplace, a carrier, a database error) for the terminal: control characters, and so
    escape sequences, dropped; Rich markup escaped, so ``[/bold]`` in a product name is printed, not obeyed."""
    return escape(plain(clean_text(text)))


class OrderRef(click.ParamType):
    """REF: the canonical id (42) or account:external_id. An id is refused here when it cannot be one (``²``,
    a number past the store's ids) as a usage error, before the database is asked."""

    name = "REF"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        ref = str(value).strip()
        if ":" in ref or not ref.isdigit():
            return ref  # find_order judges these, and says how a REF is written
        if not ref.isascii():
            self.fail(f"{ref!r} is not an order id: write the id in the digits 0-9, or account:external_id",
                      param, ctx)
        digits = ref.lstrip("0") or "0"
        if len(digits) > len(str(ID_MAX)) or int(digits) > ID_MAX:
            shown = digits if len(digits) <= 30 else digits[:30] + "…"
            self.fail(f"{shown} is not an order id: ids go up to {ID_MAX}; see `connector orders`",
                      param, ctx)
        return ref


ORDER_REF = OrderRef()


json_option = click.option("--json", "as_json", is_flag=True, help="Print pure JSON on stdout (for ERPs and scripts).")


def account_option(help: str = "Only this account (repeatable).") -> Any:  # noqa: A002
    """``--account NAME``, repeatable, on every command that can be limited to accounts."""
    return click.option("--account", "accounts", multiple=True, metavar="NAME", help=help)


def comment_option(help: str = "A note that goes with it.", **kw: Any) -> Any:  # noqa: A002
    """``--comment TEXT``: the one name for free text that goes with an action."""
    return click.option("--comment", default="", metavar="TEXT", help=help, **kw)


class DurationType(click.ParamType):
    """``30s``, ``5m``, ``2h``, ``1d`` or seconds, as in the configuration; at most ``maximum``."""

    name = "DURATION"

    def __init__(self, maximum: timedelta | None = None) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if self.maximum is not None and duration > self.maximum:
            self.fail(f"{value!r} is too long; at most {int(self.maximum.total_seconds())}s", param, ctx)
        return duration


DURATION = DurationType()


def local_time(moment: datetime | None) -> str:
    """A stored (UTC) time for a table: in the local time zone, to the second. JSON keeps UTC (isoformat)."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def utc_iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass
class Context:
    config: str | None
    log_level: str | None
    log_format: str
    _settings: Settings | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
            log = self._settings.log
            configure_logging(self.log_level or log.level, self.log_format if self.log_format != "auto" else log.format)
        return self._settings

    def store(self, *, migrated: bool = True) -> Store:
        """The store, opened once and checked now: an unreachable one stops the command before any work."""
        if self._store is None:
            # a connection for each account pulled at once, and one each for push, tracking, webhooks and the faces
            store = Store(self.settings.store.url, connections=self.settings.daemon.pull_workers + 4)
            store.ping()
            self._store = store
        if migrated:
            require_migrated(self._store)
        return self._store


pass_context = click.make_pass_decorator(Context)


def require_migrated(store: Store) -> None:
    try:
        current, head = current_revision(store), head_revision()
    except sa.exc.SQLAlchemyError as exc:
        raise store.unreachable(exc) from None
    if current != head:
        raise StoreNotMigrated(
            f"the store at {store.safe_url} is at schema {current or 'none'}, this version needs {head}",
            hint="run `connector db upgrade`",
        )


@click.group(
    help="Marketplace order sync: pulls orders from every configured marketplace account into one canonical store "
    "that ERPs read, pushes the seller's changes back, and follows parcels at their carriers.\n\n" + EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.option("--config", "-c", envvar=CONFIG_ENV, metavar="PATH",
              help=f"The YAML configuration (also ${CONFIG_ENV}). Template: config.example.yaml.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              help="Overrides log.level from the configuration.")
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), default="auto", show_default=True,
              help="Logs on stderr: JSON, readable, or auto (readable on a terminal).")
@click.version_option(__version__, prog_name="connector")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_level: str | None, log_format: str) -> None:
    configure_logging(log_level or "info", log_format)
    ctx.obj = Context(config=config, log_level=log_level, log_format=log_format)


STORE_HINT = "check that the database is running and that store.url is right"
BUG_HINT = "this is a bug: run again with --log-level debug for the details, and report them"


def print_error(message: str, hint: str | None = None) -> None:
    """An error as the user sees it: one sentence of what is wrong, one of what to do. Its text may quote
    outside text (a REF, a marketplace's words), so it is printed as text, never as markup."""
    # soft_wrap: one sentence stays one line, however narrow the terminal (or 80 columns, off one)
    err.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    if hint:
        err.print(f"[yellow]hint:[/] {safe(hint)}", highlight=False, soft_wrap=True)


class _PlainStderr:
    """stderr for click's own messages: they quote what the user typed, which may hold escape sequences."""

    def write(self, text: str) -> int:
        return sys.stderr.write(plain(text))

    def flush(self) -> None:
        sys.stderr.flush()


def _one_line(exc: BaseException) -> str:
    # describe() keeps a database error to its driver's message: no statement, no bound parameters
    lines = describe(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; turns every failure into a message and an exit code, never a
    traceback."""
    # each module adds its commands to ``cli``
    from connector.cli import (  # noqa: F401
        account, api, config, db, demo, doctor, events, mappings, orders, outbox, purge, quarantine, run, sync,
        track, ui, webhooks,
    )

    try:
        result = cli.main(args=argv, prog_name="connector", standalone_mode=False)
    except ConnectorError as exc:
        print_error(exc.message, exc.hint)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show(file=_PlainStderr())
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
        return 1
    except sa.exc.SQLAlchemyError as exc:
        # a store that failed mid-command (one that cannot be opened at all stops earlier, in Context.store)
        print_error(f"the store failed: {_one_line(exc)}", STORE_HINT)
        return 1
    except Exception as exc:  # noqa: BLE001  (the last line of defence: a sentence; the traceback on request)
        get_logger(__name__).debug("unexpected error", exc_info=exc)
        print_error(f"unexpected {_one_line(exc)}", BUG_HINT)
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
