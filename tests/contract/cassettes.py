"""Cassettes written from the reference documents: the wire format both the clients and the sandboxes must speak.

Client tests replay them with vcrpy (nothing leaves the process); sandbox tests send the same requests to the
sandbox and compare the answers' shapes, so neither side can drift from the documented API alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import vcr
import yaml

ROOT = Path(__file__).resolve().parents[1] / "cassettes"


def _json_body(r1, r2) -> None:
    """Bodies match when they are the same JSON, whatever the spacing (httpx and the cassette format differ)."""
    def parse(body):
        if body in (None, b"", ""):
            return None
        text = body.decode() if isinstance(body, bytes) else body
        try:
            return json.loads(text)
        except ValueError:
            return text
    assert parse(r1.body) == parse(r2.body), f"{parse(r1.body)!r} != {parse(r2.body)!r}"


def player(marketplace: str) -> vcr.VCR:
    v = vcr.VCR(cassette_library_dir=str(ROOT / marketplace), record_mode="none",
                match_on=["method", "scheme", "host", "port", "path", "query", "json_body"])
    v.register_matcher("json_body", _json_body)
    return v


def interactions(marketplace: str, name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((ROOT / marketplace / f"{name}.yaml").read_text())["interactions"]


def names(marketplace: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / marketplace).glob("*.yaml"))


def base_url(marketplace: str, name: str) -> str:
    """The documented host, read from the cassette so tests never spell a real marketplace's address."""
    uri = urlsplit(interactions(marketplace, name)[0]["request"]["uri"])
    return f"{uri.scheme}://{uri.netloc}"


def shape(value: Any) -> Any:
    """A JSON value's shape: keys and types, list elements merged; null fits any scalar (examples use null for
    fields that are strings in other orders)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            merged = _merge(merged, shape(item))
        return [merged] if value else []
    if value is None:
        return None
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a.get(k), b.get(k)) for k in a.keys() | b.keys()}
    return a


def same_shape(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences between two shapes, as readable paths; empty when they agree."""
    if expected is None or actual is None:
        return []
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = [f"{path}.{k}: missing" for k in expected.keys() - actual.keys()]
        problems += [f"{path}.{k}: not in the documented shape" for k in actual.keys() - expected.keys()]
        for k in expected.keys() & actual.keys():
            problems += same_shape(expected[k], actual[k], f"{path}.{k}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        if expected and actual:
            return same_shape(expected[0], actual[0], f"{path}[]")
        return []
    return [] if expected == actual else [f"{path}: {expected} expected, got {actual}"]
