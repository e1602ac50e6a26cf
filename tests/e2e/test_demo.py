"""`connector demo` end to end: the sandbox, a written config, a migrated store and the real daemon."""

from __future__ import annotations

import os
import re
import tempfile

import pytest
import yaml
from sqlmodel import Session, create_engine, select

from connector.cli.app import main
from connector.demo import PASSWORD_ENV
from connector.store.tables import CommandRow, OrderRow, StatusHistoryRow

PASSWORD = "not-for-your-eyes-7f3a"
ORDER_LINE = re.compile(r"^  (\d+)  (\w+)\s+Rozetka (\d+) .*?(?:  TTN (\d{14}))?$")
WITH_PARCEL = {"ready_to_ship", "shipped", "ready_for_pickup", "delivered", "completed"}


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch, tmp_path):
    """No configuration anywhere, the demo's directory under tmp_path, a password the test can look for."""
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("connector.demo.secrets.token_urlsafe", lambda _n: PASSWORD)


def demo(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["demo", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_demo_plays_a_day_and_every_command_it_queued_is_pushed(capsys, tmp_path):
    code, out, err = demo(capsys, "--cycles", "8", "--speed", "0.5", "--seed", "3")
    assert code == 0, out + err

    # the first lines name a real config file, with no secret in it
    config = re.search(r"^  config   (\S+)$", out, re.M)
    assert config and out.index(config[0]) < 400
    data = yaml.safe_load(open(config[1], encoding="utf-8"))
    assert data["accounts"][0] | {"base_url": None} == {
        "name": "rozetka-demo", "marketplace": "rozetka", "base_url": None, "username": "demo@example.com",
        "password_env": PASSWORD_ENV}
    assert data["daemon"]["health_port"] == 0 and data["store"]["url"].startswith(f"sqlite:///{tmp_path}")
    assert PASSWORD not in out + err + open(config[1], encoding="utf-8").read()
    assert PASSWORD_ENV not in os.environ  # given back when the demo ends

    # one plain line per cycle off a terminal
    assert [int(n) for n in re.findall(r"^cycle (\d+)/8:", out, re.M)] == list(range(1, 9))

    orders = {m[1]: (m[2], m[3], m[4]) for m in map(ORDER_LINE.match, out.splitlines()) if m}
    statuses = [status for status, _, _ in orders.values()]
    assert statuses.count("completed") >= 2
    assert ("cancelled", "45", None) in orders.values()  # the buyer who changed their mind
    shipped = [ttn for status, _, ttn in orders.values() if status in WITH_PARCEL]
    assert len(shipped) >= 4 and all(shipped)

    queued = re.search(r"^commands the demo queued: (\d+) \(.*\): (\d+) done, (\d+) failed$", out, re.M)
    assert queued and int(queued[1]) >= 8 and queued[1] == queued[2] and queued[3] == "0"
    assert f"the store agrees with Rozetka on all {len(orders)} orders" in out
    assert f"connector -c {config[1]} orders" in out


def test_the_demo_writes_into_the_store_it_is_given_and_refuses_to_reuse_it(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    code, out, err = demo(capsys, "--cycles", "4", "--speed", "0.4", "--seed", "5", "--store", url)
    assert code == 0, out + err

    engine = create_engine(url)
    with Session(engine) as session:
        orders = session.exec(select(OrderRow)).all()
        actors = {(h.order_id, h.actor) for h in session.exec(select(StatusHistoryRow))}
        commands = session.exec(select(CommandRow)).all()
    engine.dispose()
    assert len(orders) >= 7 and {o.account for o in orders} == {"rozetka-demo"}
    assert all(any(order_id == o.id for order_id, _ in actors) for o in orders)  # every order has a history
    assert {actor for _, actor in actors} >= {"marketplace", "seller"}
    assert commands and {(c.requested_by, c.state) for c in commands} == {("demo", "done")}

    # a second run on the same store would mix two days: refused before anything starts
    code, out, err = demo(capsys, "--cycles", "1", "--store", url)
    assert code == 2 and "already holds" in err and "--store" in err
