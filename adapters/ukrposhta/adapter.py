"""The Ukrposhta carrier port: one ``POST statuses/with-not-found`` per batch of at most 50 barcodes.

The batch size is inferred, not documented: Ukrposhta documents "up to 100 barcodes in a request" for the
last-status batch only; public clients chunk the history batch by 50 (sashalenz/ukrpost-api; a TypeScript client's
``maxBatch = 50``), and a history answer is many times larger than a last-status one. 50 costs at most twice the
requests of 100 and stays inside what is seen working.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from adapters.base import CarrierLogin, HttpPolicy, Parcel, ParcelReport
from adapters.ukrposhta import mapper
from adapters.ukrposhta.client import UkrposhtaClient
from connector.domain.lifecycle import ShipmentStatus
from mappings import Vocabulary, normal_ttn

BATCH_SIZE = 50


def barcode(ttn: str) -> str:
    """Spaces out, upper case, and a lost leading 0 restored: sellers' tools sometimes store 05… as a number
    (reference §8: "the leading 0 is sometimes lost; one seller tool restores it")."""
    number = normal_ttn(ttn)
    return "0" + number if len(number) == 12 and number.isdigit() and number.startswith("5") else number


class UkrposhtaAdapter:
    carrier = "ukrposhta"
    batch_size = BATCH_SIZE

    def __init__(self, client: UkrposhtaClient, vocabulary: Vocabulary) -> None:
        self.client = client
        self.vocabulary = vocabulary

    def close(self) -> None:
        self.client.close()

    def track(self, parcels: Sequence[Parcel]) -> dict[str, ParcelReport]:
        """One request for up to 50 parcels; a report for each number asked about, keyed by it as given. The
        phone is not used: StatusTracking's batch takes barcodes only."""
        if len(parcels) > self.batch_size:
            raise ValueError(f"Ukrposhta tracks at most {self.batch_size} parcels per request, not {len(parcels)}")
        reports: dict[str, ParcelReport] = {}
        asked: dict[str, list[str]] = {}
        for parcel in parcels:
            number = barcode(parcel.ttn)
            if not self.vocabulary.valid_ttn(number):
                reports[parcel.ttn] = ParcelReport(
                    ttn=parcel.ttn, status=ShipmentStatus.UNKNOWN, code="",
                    text=f"{parcel.ttn!r} is not a Ukrposhta barcode (13 digits 05…, or AA123456789AA); not sent")
                continue
            asked.setdefault(number, []).append(parcel.ttn)
        if not asked:
            return reports
        answer = self.client.histories(list(asked))
        found = {barcode(k): v for k, v in answer.found.items()}
        unknown = {barcode(b) for b in answer.not_found}
        for number, given in asked.items():
            for ttn in given:
                if number in found:
                    reports[ttn] = mapper.report(ttn, found[number], self.vocabulary)
                elif number in unknown:
                    reports[ttn] = mapper.not_found(ttn)
                else:
                    reports[ttn] = mapper.not_found(ttn, "Ukrposhta's answer names neither a history nor notFound "
                                                         "for this barcode")
        return reports


def build(login: CarrierLogin, vocabulary: Vocabulary, policy: HttpPolicy | None = None,
          sleep: Callable[[float], object] = time.sleep) -> UkrposhtaAdapter:
    client = UkrposhtaClient(login.base_url, login.api_key, policy=policy, sleep=sleep)  # type: ignore[arg-type]
    return UkrposhtaAdapter(client, vocabulary)
