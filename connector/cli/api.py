"""``connector api``: serve the HTTP API; ``connector api-key``: make, list and revoke its keys."""

from __future__ import annotations

import json

import click
from rich.table import Table

from connector.cli.app import Context, cli, err, json_option, out, pass_context, print_json, safe
from connector.logs import get_logger
from connector.store.api_keys import SCOPES, create, key_json, list_keys, revoke

log = get_logger(__name__)

LOCAL = ("127.0.0.1", "localhost", "::1")


@cli.command("api")
@click.option("--host", default=None, help="Override api.host (default 127.0.0.1: local only).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Override api.port (default 8080).")
@click.option("--openapi", "openapi", is_flag=True, help="Print the OpenAPI document (docs/openapi.json) and exit.")
@pass_context
def api_cmd(c: Context, host: str | None, port: int | None, openapi: bool) -> None:
    """Serve the HTTP API: orders, accounts, the change feed, seller commands (docs/erp-contract.md).

    Every request needs a key (`connector api-key create`). It listens on 127.0.0.1 unless api.host or --host
    says otherwise; anything else belongs behind a proxy that terminates TLS."""
    from connector.api import create_app, openapi_document  # FastAPI loads only for this command

    if openapi:
        print(json.dumps(openapi_document(), indent=2, ensure_ascii=False))
        return
    import uvicorn

    settings = c.settings
    host, port = host or settings.api.host, settings.api.port if port is None else port
    app = create_app(settings, c.store())
    if host not in LOCAL:
        log.warning("the API listens beyond this host: put a TLS-terminating proxy in front of it", host=host)
    err.print(f"serving the API on http://{host}:{port} (OpenAPI at /docs); Ctrl-C stops")
    # log_config None: uvicorn's records go through the connector's logging (stderr, JSON or console).
    uvicorn.run(app, host=host, port=port, log_config=None)


@cli.group("api-key")
def api_key() -> None:
    """Keys of the HTTP API: create NAME --scope read|write (printed once), list, revoke NAME."""


@api_key.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(SCOPES), default="read", show_default=True,
              help="read: GET only; write: also POST /commands.")
@json_option
@pass_context
def api_key_create(c: Context, name: str, scope: str, as_json: bool) -> None:
    """Make a key. It is printed once, here: only its SHA-256 is stored."""
    with c.store().transaction() as session:
        made = create(session, name, scope)
    if as_json:
        print_json(key_json(made.row) | {"key": made.key})
        return
    out.print(made.key, markup=False, highlight=False)
    err.print(f"API key {safe(made.row.name)!s} ({scope}) made; it is shown only now: store it in your secrets")


@api_key.command("list")
@json_option
@pass_context
def api_key_list(c: Context, as_json: bool) -> None:
    """The keys, revoked ones included; never the keys themselves."""
    with c.store().reading() as session:
        rows = list_keys(session)
    if as_json:
        print_json([key_json(r) for r in rows])
        return
    if not rows:
        out.print("no API keys; make one with `connector api-key create NAME --scope read|write`")
        return
    table = Table(title=f"{len(rows)} API key(s)")
    for col in ("name", "scope", "starts with", "created (UTC)", "revoked (UTC)"):
        table.add_column(col)
    for r in rows:
        table.add_row(safe(r.name), r.scope, safe(r.prefix) + "…", r.created_at.strftime("%Y-%m-%d %H:%M"),
                      r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else "")
    out.print(table)


@api_key.command("revoke")
@click.argument("name")
@pass_context
def api_key_revoke(c: Context, name: str) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    with c.store().transaction() as session:
        row = revoke(session, name)
    out.print(f"API key {safe(row.name)} revoked")
