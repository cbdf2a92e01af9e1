"""What is derived from a history row: its recipient's details and its status name."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

import pyarrow as pa
import pyarrow.compute as pc

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import migrate_legacy_ci, normalize_number, number_info
from smspresto_pipeline.warehouse.arrow import POOL, STRING
from smspresto_pipeline.warehouse.numbering import enrich_numbers

__all__ = ["DEFAULT_STATUS_MAP", "Enricher", "recipient_details"]

#: ``HIS_STATUT`` is undocumented; this is the default reading of it (docs/architecture.md,
#: section 3).
DEFAULT_STATUS_MAP: Mapping[str, str] = MappingProxyType(
    {"0": "pending", "1": "delivered", "2": "failed"}
)


# Only the numbers outside numbering's fast path come here: 65,536 of them are a few tens of MB
# at most (with number_info's cache), where 262,144 let the two caches reach 150 MB.
@functools.lru_cache(maxsize=65_536)
def recipient_details(raw: str, region: str = "CI") -> tuple[str, bool, str | None, str | None]:
    """How a history row's ``HIS_DESTINATAIRE`` is stored: ``(recipient, valid, country, carrier)``.

    The E.164 form when the number is valid or is a pre-2021 Ivorian mobile number that the
    2021 renumbering maps to a valid one; otherwise the raw string with ``valid`` False (the
    history keeps every message). Cached per distinct number and region.

    Example:
        >>> recipient_details("+22508081488")
        ('+2250708081488', True, 'CI', 'Orange')
    """
    try:
        e164: str | None = normalize_number(raw, region)
    except SMSValidationError:
        e164 = migrate_legacy_ci(raw)
        if e164 is not None:
            try:
                e164 = normalize_number(e164, region)
            except SMSValidationError:
                e164 = None
    if e164 is None:
        country, carrier = number_info(raw.strip()) if raw.strip().startswith("+") else (None, None)
        return raw, False, country, carrier
    country, carrier = number_info(e164)
    return e164, True, country, carrier


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
