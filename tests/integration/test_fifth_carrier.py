"""A fifth carrier is one folder (with ``CARRIER`` in its ``__init__.py``) and one mapping file: the registry finds
it, the configuration accepts it, numbers of its form are routed to it and its parcels are tracked, with nothing
in ``connector/`` touched. The folder here lives in a temporary directory added to the ``adapters`` package."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from sqlmodel import select

import adapters
import mappings
from connector.config import parse_settings
from connector.domain import Shipment
from connector.domain.tracking import TrackingRules
from connector.store.orders import upsert_pulled
from connector.store.tables import ShipmentRow
from connector.sync.cycle import build_carriers
from connector.sync.track import track_parcels
from tests.factories import pulled, raw_of

PACKAGE = '''
from adapters import CarrierSpec

CARRIER = CarrierSpec(name="meest", title="Meest", logins=(("api_key",),), build="adapters.meest.adapter:build",
                      default_url="https://api.meest.example", country="UA")
'''
ADAPTER = '''
from adapters.base import ParcelReport


class MeestAdapter:
    carrier, batch_size = "meest", 2
    asked: list = []

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary

    def track(self, parcels):
        MeestAdapter.asked.append([p.ttn for p in parcels])
        rule = self.vocabulary.shipment("DELIVERED")
        return {p.ttn: ParcelReport(p.ttn, rule.status, "DELIVERED", rule.label) for p in parcels}

    def close(self):
        pass


def build(login, vocabulary, policy=None, sleep=None):
    assert login.api_key == "k-123"
    return MeestAdapter(vocabulary)
'''
MAPPING = '''
name: meest
kind: shipment_status
documented: "CREATED, DELIVERED"
ttn_format: '^MEEST\\d{6}$'
statuses:
  "CREATED": {status: created, label: "Created"}
  "DELIVERED": {status: delivered, label: "Delivered"}
'''


@pytest.fixture
def meest(tmp_path, monkeypatch):
    folder = tmp_path / "plugins" / "meest"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    (folder / "adapter.py").write_text(textwrap.dedent(ADAPTER))
    vocabularies = tmp_path / "mappings"
    vocabularies.mkdir()
    for shipped in mappings.DIRECTORY.glob("*.yaml"):
        (vocabularies / shipped.name).symlink_to(shipped)
    (vocabularies / "meest.yaml").write_text(textwrap.dedent(MAPPING))
    monkeypatch.setattr(adapters, "__path__", [*adapters.__path__, str(tmp_path / "plugins")])
    monkeypatch.setattr(mappings, "DIRECTORY", vocabularies)
    found = adapters._discover()
    monkeypatch.setattr(adapters, "CARRIERS", found)
    for module in ("adapters.routing", "connector.config", "connector.sync.cycle", "adapters.factory", "mappings"):
        monkeypatch.setattr(f"{module}.CARRIERS", found)
    monkeypatch.setenv("TEST_MEEST_KEY", "k-123")
    mappings.load.cache_clear()
    yield found
    mappings.load.cache_clear()


def test_a_fifth_carrier_is_one_folder_and_one_mapping_file(store, meest):
    assert set(meest) == {"novaposhta", "ukrposhta", "econt", "speedy", "meest"}
    assert mappings.check(mappings.load("meest")) == []
    settings = parse_settings({"carriers": {"meest": {"base_url": "https://api.meest.example",
                                                      "api_key_env": "TEST_MEEST_KEY"}}})
    carriers = build_carriers(settings)
    assert not isinstance(carriers["meest"], str) and isinstance(carriers["novaposhta"], str)
    for i, ttn in enumerate(("MEEST000123", "MEEST000124", "MEEST000125")):
        o = pulled(str(10 + i))
        o.shipments = [Shipment("unknown", ttn)]
        with store.transaction() as session:
            upsert_pulled(session, o, raw_of(o))
    summary = track_parcels(store, carriers, lambda _a: TrackingRules(), every=timedelta(minutes=30))
    assert summary.requests == {"meest": 2} and summary.asked == {"meest": 3}
    with store.reading() as session:
        parcels = session.exec(select(ShipmentRow)).all()
    assert {(p.carrier, p.status) for p in parcels} == {("meest", "delivered")}
    assert len(summary.moved) == 3
