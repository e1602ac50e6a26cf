"""What the code itself must never do, checked over the source: each would open a hole docs/security.md closes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("connector", "adapters", "mappings") for p in (ROOT / d).rglob("*.py")
           if "migrations" not in p.parts]


def _hits(pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [f"{p.relative_to(ROOT)}:{n}" for p in SOURCES
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if rx.search(line)]


def test_tls_verification_is_never_turned_off():
    assert _hits(r"verify\s*=\s*False") == []


@pytest.mark.parametrize("pattern", [r"""text\(\s*f["']""", r"""execute\(\s*f["'](?!LISTEN \{NOTIFY_CHANNEL\})""",
                                     r"""exec_driver_sql\(\s*f["']""", r"""\.format\(.*\)\s*\)\s*$"""])
def test_sql_is_never_built_from_values_by_string_formatting(pattern):
    """Statements go through the ORM or bound parameters. The one f-string is LISTEN on a constant channel name
    (LISTEN takes no parameters)."""
    assert [h for h in _hits(pattern) if "sandbox" not in h] == []

