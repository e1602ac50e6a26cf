"""`connector demo` end to end: the three marketplaces' sandboxes, a written config, a migrated store and the real
daemon."""

from __future__ import annotations

import os
import re
import tempfile

import pytest
import yaml
from sqlmodel import Session, create_engine, select

from connector.cli.app import main
from connector.demo import CHOPNI_PASSWORD_ENV, PASSWORD_ENV, PROMUA_TOKEN_ENV
from connector.store.tables import CommandRow, OrderRow, StatusHistoryRow

PASSWORD = "not-for-your-eyes-7f3a"
ORDER_LINE = re.compile(r"^  (\d+)\s+(\w+)\s+(Rozetka|Chopni|Prom\.ua) (\S+) .*?(?:  TTN (\d+))?$")
WITH_PARCEL = {"ready_to_ship", "shipped", "ready_for_pickup", "delivered", "completed"}
EMAILS = re.compile(r"^Chopni e-mailed its buyers (\d+) time\(s\) for the (\d+) status change\(s\) the daemon "
                    r"pushed: nothing was sent twice$", re.M)


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch, tmp_path):
    """No configuration anywhere, the demo's directory under tmp_path, a password the test can look for."""
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(CHOPNI_PASSWORD_ENV, raising=False)
    monkeypatch.delenv(PROMUA_TOKEN_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("connector.demo.secrets.token_urlsafe", lambda _n: PASSWORD)


def demo(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["demo", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_demo_plays_a_day_on_both_marketplaces_and_every_command_it_queued_is_pushed(capsys, tmp_path):
    code, out, err = demo(capsys, "--cycles", "8", "--speed", "0.5", "--seed", "3")
    assert code == 0, out + err

    # the first lines name a real config file with both accounts, and no secret in it
    config = re.search(r"^  config   (\S+)$", out, re.M)
    assert config and out.index(config[0]) < 400
    data = yaml.safe_load(open(config[1], encoding="utf-8"))
    rozetka, chopni, promua = data["accounts"]
    assert rozetka | {"base_url": None} == {
        "name": "rozetka-demo", "marketplace": "rozetka", "base_url": None, "username": "demo@example.com",
        "password_env": PASSWORD_ENV}
    assert chopni | {"base_url": None} == {
        "name": "chopni-demo", "marketplace": "chopni", "base_url": None, "email": "demo-shop@example.com",
        "password_env": CHOPNI_PASSWORD_ENV, "requests_per_second": 50}
    assert promua | {"base_url": None} == {
        "name": "promua-demo", "marketplace": "promua", "base_url": None, "token_env": PROMUA_TOKEN_ENV,
        "requests_per_second": 50}
    assert promua["base_url"].endswith("/api/v1")
    assert len({rozetka["base_url"], chopni["base_url"], promua["base_url"]}) == 3
    assert data["daemon"]["health_port"] == 0 and data["store"]["url"].startswith(f"sqlite:///{tmp_path}")
    assert PASSWORD not in out + err + open(config[1], encoding="utf-8").read()
    assert PASSWORD_ENV not in os.environ and CHOPNI_PASSWORD_ENV not in os.environ  # given back at the end
    assert PROMUA_TOKEN_ENV not in os.environ

    # one plain line per cycle off a terminal, with both marketplaces in it
    cycles = re.findall(r"^cycle (\d+)/8: Rozetka \d+ orders \(.*\); Chopni \d+ orders \(.*\); Prom\.ua \d+ orders \(",
                        out, re.M)
    assert [int(n) for n in cycles] == list(range(1, 9))
    assert "Chopni: seller starts processing" in out and "Chopni: seller ships" in out

    orders = {(m[3], m[1]): (m[2], m[4], m[5]) for m in map(ORDER_LINE.match, out.splitlines()) if m}
    at = {name: {ext: v for (where, ext), v in orders.items() if where == name}
          for name in ("Rozetka", "Chopni", "Prom.ua")}
    statuses = [status for status, _, _ in at["Rozetka"].values()]
    assert statuses.count("completed") >= 2
    assert ("cancelled", "45", None) in at["Rozetka"].values()  # the buyer who changed their mind
    shipped = [ttn for status, _, ttn in at["Rozetka"].values() if status in WITH_PARCEL]
    assert len(shipped) >= 4 and all(ttn and len(ttn) == 14 for ttn in shipped)
    # Chopni: orders on their way (shipped, or further along at the carrier: how far depends on the timing), done
    # and exchanged; every one that left the seller carries its tracking number
    chopni = {status for status, _, _ in at["Chopni"].values()}
    assert chopni >= {"completed", "exchanged"} and chopni & {"shipped", "ready_for_pickup", "delivered"}
    assert all(ttn for status, _, ttn in at["Chopni"].values() if status in WITH_PARCEL)

    queued = re.search(r"^commands the demo queued: (\d+) \(.*\): (\d+) done, (\d+) failed$", out, re.M)
    assert queued and int(queued[1]) >= 12 and queued[1] == queued[2] and queued[3] == "0"
    assert re.search(r"^  rozetka-demo: \d+ \(.*\): \d+ done, 0 failed$", out, re.M)
    assert re.search(r"^  chopni-demo: \d+ \(.*start_processing.*\): \d+ done, 0 failed$", out, re.M)
    assert f"the store agrees with Rozetka on all {len(at['Rozetka'])} orders" in out
    assert f"the store agrees with Chopni on all {len(at['Chopni'])} orders" in out
    assert f"the store agrees with Prom.ua on all {len(at['Prom.ua'])} orders" in out
    assert f"connector -c {config[1]} orders" in out and "order show chopni-demo:" in out

    # The store: Chopni orders the daemon moved on the seller's commands, by the manual's steps. (Not by actor:
    # a pull that lands between a push and the push's own re-read records the change as the marketplace's.)
    engine = create_engine(data["store"]["url"])
    with Session(engine) as session:
        moves = session.exec(select(StatusHistoryRow.from_status, StatusHistoryRow.to_status)
                             .join(OrderRow, StatusHistoryRow.order_id == OrderRow.id)
                             .where(OrderRow.account == "chopni-demo")).all()
        commands = session.exec(select(CommandRow.kind, CommandRow.state).join(OrderRow)
                                .where(OrderRow.account == "chopni-demo")).all()
    engine.dispose()
    steps = set(moves)
    assert steps >= {("new", "processing"), ("processing", "shipped"), ("delivered", "completed"),
                     ("completed", "exchanged")}
    # the carrier delivered, the tracking rules moved the order and queued COMPLETE: the seller never did
    assert steps & {("shipped", "delivered"), ("ready_for_pickup", "delivered")}
    carrier_done = re.search(r"^orders the carrier, not the seller, completed: (\d+)$", out, re.M)
    assert carrier_done and int(carrier_done[1]) >= 1 and "after the carrier reported the parcel delivered" in out
    assert "accept" not in {kind for kind, _ in commands}  # Chopni has no acceptance step
    assert {state for _, state in commands} == {"done"}

    # Prom.ua: accepted (received), shipped with a Nova Poshta TTN, completed (delivered) once the carrier delivered
    assert "Prom.ua: seller accepts" in out and "Prom.ua: seller ships" in out and "Prom.ua: seller completes" in out
    prom = list(at["Prom.ua"].values())
    assert any(status == "completed" and code == "delivered" and ttn for status, code, ttn in prom)
    assert all(ttn and len(ttn) == 14 for status, _, ttn in prom if status in WITH_PARCEL)
    assert re.search(r"^  promua-demo: \d+ \(accept \d+, complete \d+, ship \d+\): \d+ done, 0 failed$", out, re.M)
    assert "Prom.ua's write log holds each step the daemon pushed once: nothing was sent twice" in out
    engine = create_engine(data["store"]["url"])
    with Session(engine) as session:
        prom_moves = set(session.exec(select(StatusHistoryRow.from_status, StatusHistoryRow.to_status)
                                      .join(OrderRow, StatusHistoryRow.order_id == OrderRow.id)
                                      .where(OrderRow.account == "promua-demo")).all())
    engine.dispose()
    # the seller accepted; the tracking job followed the TTN to the delivery; the seller closed the sale
    assert prom_moves >= {("new", "accepted"), ("delivered", "completed")}
    assert any(to == "delivered" for _, to in prom_moves)

    # Chopni e-mails the buyer for every history row: as many e-mails as status changes pushed, at most one per
    # command (a command may find its step already done and send nothing, never send one twice)
    emails = EMAILS.search(out)
    assert emails and emails[1] == emails[2]
    assert 4 <= int(emails[1]) <= sum(1 for kind, _ in commands if kind != "message_buyer")


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
    assert len(orders) >= 12 and {o.account for o in orders} == {"rozetka-demo", "chopni-demo", "promua-demo"}
    assert all(any(order_id == o.id for order_id, _ in actors) for o in orders)  # every order has a history
    assert {actor for _, actor in actors} >= {"marketplace", "seller"}
    assert commands and {(c.requested_by, c.state) for c in commands} <= {("demo", "done"), ("automation", "done")}

    # a second run on the same store would mix two days: refused before anything starts
    code, out, err = demo(capsys, "--cycles", "1", "--store", url)
    assert code == 2 and "already holds" in err and "--store" in err
