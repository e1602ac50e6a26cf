"""The Econt carrier adapter: up to ``batch_size`` numbers → one ``getShipmentStatuses`` call → a report for each.

Batch size: Econt documents no maximum for ``shipmentNumbers`` (reference §1.2, an open question in §5). Clients
range from all numbers in one call (ha-econt) to one per call (woo-bg); the reference recommends at most 30 per call
(§4). So 30 is *inferred*, not documented: a smaller batch costs a few more requests, a too-large one fails a whole
batch on the day Econt enforces a limit we cannot see.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from adapters.base import CarrierLogin, HttpPolicy, Parcel, ParcelReport, track_batch
from adapters.econt import mapper
from adapters.econt.client import EcontClient
from mappings import Vocabulary

BATCH_SIZE = 30  # inferred (see the module docstring)


class EcontAdapter:
    carrier = "econt"
    batch_size = BATCH_SIZE

    def __init__(self, client: EcontClient, vocabulary: Vocabulary) -> None:
        self.client = client
        self.vocabulary = vocabulary

    def track(self, parcels: Sequence[Parcel]) -> dict[str, ParcelReport]:
        """Exactly one request (retried on transient failures) for at most ``batch_size`` parcels; the reports are
        keyed by each parcel's ``ttn`` as given. Raises ValueError for a larger batch: splitting is the caller's."""
        # The batch logic is shared with Speedy (adapters/base.py); the request and the mapper are Econt's.
        return track_batch(parcels, title="Econt", batch_size=self.batch_size, ask=self.client.shipment_statuses,
                           read=lambda payload, asked: mapper.reports(payload, asked, self.vocabulary))

    def close(self) -> None:
        self.client.close()


def build(login: CarrierLogin, vocabulary: Vocabulary, policy: HttpPolicy | None = None,
          sleep: Callable[[float], object] = time.sleep,
          transport: httpx.BaseTransport | None = None) -> EcontAdapter:
    client = EcontClient(login.base_url, username=login.username, password=login.password, policy=policy,
                         transport=transport, sleep=sleep)  # type: ignore[arg-type]
    return EcontAdapter(client, vocabulary)
