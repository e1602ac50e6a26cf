"""The files that run the connector as a service: the container image, the compose file and the systemd unit.

No Docker engine runs here, so the image is checked by what it will run: its entry command, run directly from
this environment, and its health check's logic; the unit by systemd's own verifier."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = str(Path(sys.executable).with_name("connector"))


def _instruction(name: str) -> str:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    matches = re.findall(rf"^{name}\s+(.*)$", text, re.M)
    assert matches, f"the Dockerfile has no {name}"
    return matches[-1].strip()


def test_the_image_runs_as_a_non_root_user_from_a_slim_base_with_a_health_check():
    assert re.match(r"python:3\.\d+-slim", _instruction("FROM"))
    assert _instruction("USER") not in ("root", "0")
    assert "/livez" in _instruction("HEALTHCHECK")  # liveness: never fails because a marketplace is down
    for copied in ("connector", "adapters", "mappings"):  # the package is installed from the checkout
        assert re.search(rf"^COPY {copied} ", (ROOT / "Dockerfile").read_text(), re.M)


def test_the_images_entry_command_is_the_daemon_and_runs_here():
    entry, command = json.loads(_instruction("ENTRYPOINT")), json.loads(_instruction("CMD"))
    assert entry == ["connector"] and command == ["run"]
    done = subprocess.run([CONNECTOR, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "daemon" in done.stdout.lower()


def test_the_compose_file_upgrades_the_schema_once_before_the_daemon_starts():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "connector"}
    assert services["migrate"]["command"] == ["db", "upgrade"] and services["migrate"]["restart"] == "no"
    assert services["connector"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert all(p.startswith("127.0.0.1:") for p in services["connector"]["ports"]), "health stays local"
    assert "POSTGRES_PASSWORD" in services["postgres"]["environment"]
    assert "${" in services["postgres"]["environment"]["POSTGRES_PASSWORD"], "no password in the file"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path):
    unit = (ROOT / "packaging" / "connector.service").read_text(encoding="utf-8")
    assert re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M) and "Restart=on-failure" in unit
    assert "EnvironmentFile=" in unit and re.search(r"^Type=(simple|notify)$", unit, re.M)
    # The unit points at the installed connector; here, at this environment's.
    local = unit.replace("/opt/connector/.venv/bin/connector", CONNECTOR).replace("User=connector", "User=root") \
        .replace("Group=connector", "Group=root")
    path = tmp_path / "connector.service"
    path.write_text(local, encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    problems = [line for line in done.stderr.splitlines() if "connector.service" in line]
    assert done.returncode == 0 and problems == [], done.stderr
