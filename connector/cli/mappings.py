"""``connector mappings …``: the status vocabularies in ``mappings/`` and the accounts' overrides of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import click
from rich.markup import escape
from rich.table import Table

import mappings as vocabularies
from connector.cli.app import Context, cli, json_option, out, pass_context, print_json


@cli.group("mappings")
def mappings_group() -> None:
    """Inspect the files that map each marketplace's statuses onto the canonical lifecycle."""


@mappings_group.command("check")
@json_option
@pass_context
def mappings_check(c: Context, as_json: bool) -> None:
    """Prove every shipped mapping, and every account's override, maps each documented status.

    Without a configuration only the shipped files are checked. Exits 1 naming every gap or problem; a file
    that does not parse exits 2."""
    checked = [(None, vocabularies.load(name)) for name in vocabularies.available()]
    # Only an explicit configuration is read: this check must also run on a machine that has none yet.
    if c.config is not None:
        checked += [(account.name, vocabularies.load(account.marketplace, account.mapping))
                    for account in c.settings.accounts if account.mapping]
    rows = [Row.of(account, vocabulary) for account, vocabulary in checked]
    if as_json:
        print_json([asdict(row) for row in rows])
    else:
        _print(rows)
    if any(row.problems for row in rows):
        raise click.exceptions.Exit(1)


@dataclass(frozen=True, slots=True)
class Row:
    mapping: str
    account: str | None  # None for a shipped file; an account's name for its merged override
    kind: str
    source: str
    documented: int
    observed: int  # codes seen in practice that the marketplace does not document (mapped all the same)
    mapped: int  # documented and observed codes that have a rule
    problems: list[str]

    @classmethod
    def of(cls, account: str | None, vocabulary: vocabularies.Vocabulary) -> Row:
        codes = (*vocabulary.documented, *vocabulary.observed)
        return cls(vocabulary.name, account, vocabulary.kind, vocabulary.source, len(vocabulary.documented),
                   len(vocabulary.observed), sum(1 for code in codes if code in vocabulary.statuses),
                   vocabularies.check(vocabulary))

    @property
    def title(self) -> str:
        return f"{self.mapping} (account {self.account})" if self.account else self.mapping


def _print(rows: list[Row]) -> None:
    table = Table(title="status mappings")
    for column in ("mapping", "kind", "documented", "observed", "mapped", "problems"):
        table.add_column(column, justify="right" if column in ("documented", "observed", "mapped") else "left")
    for row in rows:
        table.add_row(escape(row.title), row.kind, str(row.documented), str(row.observed), str(row.mapped),
                      f"[red]{len(row.problems)}[/]" if row.problems else "[green]none[/]")
    out.print(table)
    for row in rows:
        for problem in row.problems:
            out.print(f"{row.title} ({row.source}): {problem}", highlight=False, markup=False)
