"""``connector ui``: the web page (connector/web), on this machine unless told otherwise."""

from __future__ import annotations

import click

from connector.cli.app import Context, cli, err, out, pass_context
from connector.web.server import PASSWORD_ENV, UiServer, remote_password

DEFAULT_PORT = 8765


@cli.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to serve on. Anything but this machine (127.0.0.1, localhost, ::1) needs "
                   f"--allow-remote and a password in ${PASSWORD_ENV}.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="The port (0: any free port; the address is printed).")
@click.option("--allow-remote", is_flag=True,
              help=f"Allow a --host other machines can reach, behind HTTP Basic with the password in "
                   f"${PASSWORD_ENV} (any user name). Put TLS in front of it: Basic sends the password as is.")
@pass_context
def ui_cmd(c: Context, host: str, port: int, allow_remote: bool) -> None:
    """Serve the page that answers "is everything flowing, and what needs me?": accounts and their last pulls,
    carriers' last tracking, orders by status, a searchable order list, each order's timeline, and the outbox with
    retry and cancel. It updates itself while `connector run` works. Ctrl-C stops it."""
    password = remote_password(host, allow_remote)  # refused before the store is opened
    store = c.store()
    server = UiServer(store, c.settings, host=host, port=port, password=password)
    out.print(f"connector ui: {server.url}", highlight=False, soft_wrap=True)
    err.print("serving the page; Ctrl-C stops" + (" (HTTP Basic: any user name, the password in "
                                                  f"${PASSWORD_ENV})" if password else ""))
    server.serve()
