"""The Speedy carrier adapter: up to 10 numbers → one ``/track`` call → a report for each.

Batch size 10 is *documented*: "Allowed are up to 10 parcels" (Speedy's web API docs, TrackRequest). The full
history is asked for (``lastOperationOnly: false``) so each report carries its events and the return (124) that
Speedy writes into an original parcel's history; ``last_operation_only=True`` makes polling cheaper at the cost of
the timeline (the reference's recommendation for high volumes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import httpx

from adapters.base import CarrierLogin, HttpPolicy, Parcel, ParcelReport
from adapters.speedy import mapper
from adapters.speedy.client import SpeedyClient
from connector.errors import PayloadError
from mappings import Vocabulary, normal_ttn

BATCH_SIZE = 10  # documented


class SpeedyAdapter:
    carrier = "speedy"
    batch_size = BATCH_SIZE

    def __init__(self, client: SpeedyClient, vocabulary: Vocabulary, *, last_operation_only: bool = False) -> None:
        self.client = client
        self.vocabulary = vocabulary
        self.last_operation_only = last_operation_only

    def track(self, parcels: Sequence[Parcel]) -> dict[str, ParcelReport]:
        """Exactly one request (retried on transient failures) for at most 10 parcels; reports keyed by each
        parcel's ``ttn`` as given. Raises ValueError for a larger batch: Speedy would refuse it whole."""
        if len(parcels) > self.batch_size:
            raise ValueError(f"Speedy: {len(parcels)} parcels in one request; at most {self.batch_size}")
        if not parcels:
            return {}
        asked = list(dict.fromkeys(normal_ttn(p.ttn) for p in parcels))
        payload = self.client.track(asked, last_operation_only=self.last_operation_only)
        try:
            by_number = mapper.reports(payload, asked, self.vocabulary)
        except (AttributeError, TypeError) as exc:
            raise PayloadError(f"Speedy answer does not parse: {exc}", raw=str(payload)[:2000]) from exc
        return {p.ttn: _as_asked(by_number[normal_ttn(p.ttn)], p.ttn) for p in parcels}

    def close(self) -> None:
        self.client.close()


def _as_asked(report: ParcelReport, ttn: str) -> ParcelReport:
    return report if report.ttn == ttn else replace(report, ttn=ttn)


def build(login: CarrierLogin, vocabulary: Vocabulary, policy: HttpPolicy | None = None,
          sleep: Callable[[float], object] = time.sleep,
          transport: httpx.BaseTransport | None = None) -> SpeedyAdapter:
    client = SpeedyClient(login.base_url, username=login.username, password=login.password, policy=policy,
                          transport=transport, sleep=sleep)  # type: ignore[arg-type]
    return SpeedyAdapter(client, vocabulary)
