"""``connector config …``: the documented example, and the configuration in effect (the file and the environment)."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import click
import yaml

from connector.cli.app import Context, cli, json_option, pass_context, print_json
from connector.config import ENV_PREFIX, EXAMPLE_PATH, settings_env
from connector.errors import ConfigError
from connector.logs import strip_userinfo


@cli.group("config")
def config_group() -> None:
    """The configuration: print the documented example, or show what is in effect."""


@config_group.command("example")
def config_example() -> None:
    """Print the example configuration, which documents every key: `connector config example > connector.yaml`.

    Needs no configuration and no store."""
    try:
        text = EXAMPLE_PATH.read_text(encoding="utf-8")
    except OSError as exc:  # a broken installation: the file ships inside the package
        raise ConfigError(f"the example configuration is missing from this installation ({EXAMPLE_PATH}): "
                          f"{exc.strerror}", hint="reinstall the package") from None
    sys.stdout.write(text)


def _plain(value: Any) -> Any:
    """Durations as the configuration writes them (120s), not as ISO 8601 (PT2M)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@config_group.command("show")
@json_option
@pass_context
def config_show(c: Context, as_json: bool) -> None:
    """Show the configuration in effect: the file with the CONNECTOR_* environment over it, and every default.

    Secrets are never in it (only the names of their variables and files); a password in store.url is left out."""
    data = _plain(c.settings.model_dump())
    data["store"]["url"] = strip_userinfo(data["store"]["url"])
    from_env = sorted(settings_env())
    if as_json:
        print_json({"settings": data, "environment": from_env})
        return
    if from_env:
        click.echo(f"# from the environment (over the file): {', '.join(from_env)}")
    else:
        click.echo(f"# no {ENV_PREFIX}* setting in the environment: the file and the defaults")
    click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
