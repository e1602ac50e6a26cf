"""``connector events``: the change feed, from a position on; ``--follow`` keeps reading as events commit."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import click

from connector.cli.app import Context, cli, json_option, out, pass_context, print_json, safe
from connector.store.events import EventKind, since

BATCH = 500


@cli.command("events")
@click.option("--since", "position", type=click.IntRange(min=0), default=0, show_default=True,
              help="The last seq you have seen: events after it are printed (0: from the start).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice([k.value for k in EventKind]),
              help="Only this kind (repeatable).")
@click.option("--account", help="Only this account's orders.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many (without --follow).")
@click.option("--follow", "-f", is_flag=True, help="Keep reading: print each event as it commits (Ctrl-C stops).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between looks with --follow.")
@json_option
@pass_context
def events_cmd(c: Context, position: int, kinds: tuple[str, ...], account: str | None, limit: int | None,
               follow: bool, interval: float, as_json: bool) -> None:
    """Print the change feed after --since, oldest first. Remember the last seq printed and pass it as --since
    next time: every later event comes exactly once, in commit order.

    --json prints an array; with --follow, one JSON object per line (JSON Lines)."""
    store = c.store()
    shown, collected = 0, []
    try:
        while True:
            want = BATCH if limit is None or follow else min(BATCH, limit - shown)
            with store.reading() as session:
                batch = since(session, position, limit=want, kinds=kinds or None, account=account)
            for event in batch:
                data = event.as_json()
                if as_json and not follow:
                    collected.append(data)
                elif as_json:
                    print(json.dumps(data, ensure_ascii=False), flush=True)
                else:
                    o = data["order"]
                    out.print(f"{data['seq']:>8}  {data['recorded_at'][:19]}  {data['kind']:<22} "
                              f"{o['id']:>6} {safe(o['account'])}:{safe(o['external_id'])}  "
                              f"{safe(_brief(data))}", highlight=False)
            if batch:
                position, shown = batch[-1].row.seq, shown + len(batch)
            if not follow and (len(batch) < want or (limit is not None and shown >= limit)):
                break
            if follow and len(batch) < want:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass  # --follow ends with Ctrl-C: what was printed stands
    if as_json and not follow:
        print_json(collected)


def _brief(event: dict) -> str:
    d = event["data"]
    kind = event["kind"]
    if kind == "order.created":
        return f"status {d.get('status')}"
    if kind == "order.status_changed":
        return f"{d.get('from')} → {d.get('to')} ({d.get('actor')}, {d.get('outcome')})"
    if kind == "shipment.changed":
        return f"{d.get('ttn')} {d.get('before') or ''}{' → ' if d.get('before') else ''}{d.get('status')}"
    return f"command {d.get('command_id')} ({d.get('kind')}) {d.get('state')}: " + (d.get("result") or d.get("error")
                                                                                    or "")


class Since(click.ParamType):
    """TIME for ``--since``: ISO 8601 (``2026-11-01T09:00:00+02:00``, ``2026-11-01 09:00``); UTC unless it says."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a time; write e.g. 2026-11-01T09:00:00Z or '2026-11-01 09:00'", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


SINCE = Since()
