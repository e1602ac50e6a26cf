"""``connector run``: the daemon."""

from __future__ import annotations

import click

from connector.cli.app import Context, cli, pass_context
from connector.daemon import Daemon


@cli.command("run")
@click.option("--health-port", type=click.IntRange(0, 65535),
              help="Override daemon.health_port (0: any free port).")
@pass_context
def run_cmd(c: Context, health_port: int | None) -> None:
    """Run the daemon: pull every enabled account on its schedule, push commands as they arrive, serve
    /livez, /readyz, /healthz and /metrics (daemon.health_port, 8464 by default). Several daemons may share one
    PostgreSQL store. A paused account stays paused across restarts (`connector account list`).

    SIGTERM or Ctrl-C finishes the page or push in hand and exits 0; a second one exits at once."""
    settings = c.settings
    if health_port is not None:
        settings = settings.model_copy(update={"daemon": settings.daemon.model_copy(
            update={"health_port": health_port})})
    Daemon(settings, c.store()).run_forever()
