"""What is derived from a history row: its recipient's details (the number rules of
:mod:`smspresto_pipeline.sms.numbering`) and its status name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pyarrow as pa
import pyarrow.compute as pc

from smspresto_pipeline.sms.arrow import POOL, STRING
from smspresto_pipeline.sms.numbering import enrich_numbers, recipient_details

__all__ = ["DEFAULT_STATUS_MAP", "Enricher"]

#: ``HIS_STATUT`` is undocumented; this is the default reading of it (docs/architecture.md,
#: section 3).
DEFAULT_STATUS_MAP: Mapping[str, str] = MappingProxyType(
    {"0": "pending", "1": "delivered", "2": "failed"}
)


class Enricher:
    """What is derived from a page's rows: its recipients' details and its status names.

    The numbers are worked out column-wise (:func:`enrich_numbers`); only the numbers its fast
    path leaves go through :func:`recipient_details`, once per distinct number (cached). No
    state grows with the pages: each page costs the same, the first or the millionth.
    """

    def __init__(self, status_map: Mapping[str, str], region: str) -> None:
        self._status_map = status_map
        self._region = region

    def columns(self, numbers: pa.Array, codes: pa.Array) -> list[pa.Array]:
        """``norm_recipient``, ``norm_recipient_valid``, ``norm_country``, ``norm_carrier``
        and ``norm_status`` for the page's ``HIS_DESTINATAIRE`` and ``HIS_STATUT``."""
        details = enrich_numbers(numbers, self._slow)
        encoded = pc.dictionary_encode(codes, null_encoding="encode", memory_pool=POOL)
        names = [
            "unknown" if code is None else self._status_map.get(code.strip(), "unknown")
            for code in encoded.dictionary.to_pylist()
        ]
        status = pc.take(pa.array(names, STRING), encoded.indices, memory_pool=POOL)
        return [details.recipient, details.valid, details.country, details.carrier, status]

    def _slow(self, number: str) -> tuple[str, bool, str | None, str | None]:
        return recipient_details(number, self._region)
