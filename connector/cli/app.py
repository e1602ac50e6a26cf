"""The ``connector`` command line. Exit codes: 0 success, 1 a job or check failed, 2 bad usage or configuration.

Data goes to stdout (tables, or pure JSON with ``--json``); logs and progress go to stderr, so output pipes cleanly.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import click
from rich.console import Console
from rich.markup import escape

from connector import __version__
from connector.config import CONFIG_ENV, Settings, load_settings
from connector.domain.limits import clean_text
from connector.errors import ConnectorError, StoreNotMigrated
from connector.logs import configure as configure_logging
from connector.store import Store
from connector.store.migrate import current_revision, head_revision

EXIT_CODES = "Exit codes: 0 success; 1 a job or check failed; 2 bad usage or configuration."

# stdout: the data. Off a terminal rich would assume 80 columns and cut cells; piped tables get room instead.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)  # stderr: messages for the person at the terminal


def print_json(data: object) -> None:
    # print(), not rich: rich would colour and wrap, and the output must stay pure JSON
    print(json.dumps(data, ensure_ascii=False, indent=2))


def safe(text: object) -> str:
    """Text from outside (a marketplace, a carrier, a database error) for the terminal: control characters, and so
    escape sequences, dropped; Rich markup escaped, so ``[/bold]`` in a product name is printed, not obeyed."""
    return escape(clean_text(text))


json_option = click.option("--json", "as_json", is_flag=True, help="Print pure JSON on stdout (for ERPs and scripts).")


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
        if self._store is None:
            self._store = Store(self.settings.store.url)
        if migrated:
            require_migrated(self._store)
        return self._store


pass_context = click.make_pass_decorator(Context)


def require_migrated(store: Store) -> None:
    current, head = current_revision(store), head_revision()
    if current != head:
        raise StoreNotMigrated(
            f"the store at {store.safe_url} is at schema {current or 'none'}, this version needs {head}",
            hint="run `connector db upgrade`",
        )


@click.group(
    help="Marketplace order sync: pulls orders from Rozetka and Chopni into one canonical store that ERPs read, "
    "and pushes the seller's changes back.\n\n" + EXIT_CODES,
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; turns our exceptions into a message and an exit code."""
    # each module adds its commands to ``cli``
    from connector.cli import db, demo, doctor, mappings, orders, outbox, quarantine, run, sync, track  # noqa: F401

    try:
        result = cli.main(args=argv, prog_name="connector", standalone_mode=False)
    except ConnectorError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
