"""Progress for long work: a live bar on a terminal's stderr, nothing at all when stderr is a pipe or a file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from connector.cli.app import err


@contextmanager
def progress() -> Iterator[Progress]:
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    with bar:
        yield bar
