"""The Nova Poshta carrier port: one ``getStatusDocuments`` request per batch of at most 100 parcels.

Numbers are validated against mappings/novaposhta.yaml's ``ttn_format`` before anything is sent, since NP refuses a
whole batch over one malformed number (the public fixtures' ``success:false`` with ``Invalid DocumentNumber``).
Records are matched to numbers by ``Number``, never by position, and every number asked about gets a report: one
missing from the answer is NOT_FOUND.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from adapters.base import CarrierLogin, HttpPolicy, Parcel, ParcelReport
from adapters.novaposhta import mapper
from adapters.novaposhta.client import MAX_DOCUMENTS, BadNumbers, NovaPoshtaClient
from connector.logs import get_logger
from mappings import Vocabulary, normal_ttn

log = get_logger(__name__)


class NovaPoshtaAdapter:
    carrier = "novaposhta"
    batch_size = MAX_DOCUMENTS  # the documented maximum: "до 100 відправлень" per call

    def __init__(self, client: NovaPoshtaClient, vocabulary: Vocabulary) -> None:
        self.client = client
        self.vocabulary = vocabulary

    def close(self) -> None:
        self.client.close()

    def track(self, parcels: Sequence[Parcel]) -> dict[str, ParcelReport]:
        """One request for up to 100 parcels; a report for each number asked about, keyed by it as given.

        The phone goes with a number when the parcel has one: with the key it fills the recipient's name, the
        contents and the declared value (reference §2.1). Status, dates and branches come back without it."""
        if len(parcels) > self.batch_size:
            raise ValueError(f"Nova Poshta tracks at most {self.batch_size} parcels per request, not {len(parcels)}")
        reports: dict[str, ParcelReport] = {}
        asked: dict[str, list[str]] = {}  # normal number → the numbers as given (a seller may paste one twice)
        phones: dict[str, str] = {}
        for parcel in parcels:
            number = normal_ttn(parcel.ttn)
            if not self.vocabulary.valid_ttn(number):
                reports[parcel.ttn] = mapper.unreadable(
                    parcel.ttn, f"{parcel.ttn!r} is not a Nova Poshta waybill number (14 digits); not sent", "")
                continue
            asked.setdefault(number, []).append(parcel.ttn)
            phones[number] = phones.get(number) or _phone(parcel.phone)
        if not asked:
            return reports
        try:
            answer = self.client.status_documents([(n, phones[n]) for n in asked])
        except BadNumbers as refused:
            # The format check let a number through that NP refuses. NP names it: report it, ask for the rest
            # once more (the only case where a batch costs a second request).
            flagged = {normal_ttn(n) for n in refused.numbers} & asked.keys()
            if not flagged:
                raise
            for number in flagged:
                for given in asked.pop(number):
                    reports[given] = mapper.unreadable(given, f"Nova Poshta refused the number: {refused.message}",
                                                       "")
            if not asked:
                return reports
            answer = self.client.status_documents([(n, phones[n]) for n in asked])
        for document, text in answer.warnings:
            log.info("nova poshta warning", document=document, warning=text)
        return reports | mapper.match(answer.data, asked, self.vocabulary)


def _phone(phone: str) -> str:
    """NP's examples all use 380XXXXXXXXX; a local 0XXXXXXXXX gets the country code."""
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    if len(digits) == 10 and digits.startswith("0"):
        digits = "38" + digits
    return digits


def build(login: CarrierLogin, vocabulary: Vocabulary, policy: HttpPolicy | None = None,
          sleep: Callable[[float], object] = time.sleep) -> NovaPoshtaAdapter:
    client = NovaPoshtaClient(login.base_url, login.api_key, policy=policy, sleep=sleep)  # type: ignore[arg-type]
    return NovaPoshtaAdapter(client, vocabulary)
