"""What is derived in Python from a history row: its recipient's details and its status name."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

import pyarrow as pa
import pyarrow.compute as pc

from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sms import migrate_legacy_ci, normalize_number, number_info
from smspresto_pipeline.warehouse.arrow import POOL, STRING

__all__ = ["DEFAULT_STATUS_MAP", "Enricher", "recipient_details"]

#: ``HIS_STATUT`` is undocumented; this is the default reading of it (DESIGN.md section 3).
DEFAULT_STATUS_MAP: Mapping[str, str] = MappingProxyType(
    {"0": "pending", "1": "delivered", "2": "failed"}
)


@functools.lru_cache(maxsize=262_144)
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
    """What is derived in Python from a row: its recipient's details and its status name.

    Each distinct number is worked out once and kept, as Arrow arrays, across pages and days:
    an account texts the same numbers again and again, and ``phonenumbers`` costs tens of
    microseconds a number. A page's numbers are matched to the known ones in C
    (``index_in``), so only numbers never seen before cost Python work.
    """

    _MAX_NUMBERS = 500_000
    _TYPES = (STRING, pa.bool_(), STRING, STRING)

    def __init__(self, status_map: Mapping[str, str], region: str) -> None:
        self._status_map = status_map
        self._region = region
        self._known = pa.array([], STRING)
        self._details = [pa.array([], kind) for kind in self._TYPES]

    def columns(self, numbers: pa.Array, codes: pa.Array) -> list[pa.Array]:
        """``norm_recipient``, ``norm_recipient_valid``, ``norm_country``, ``norm_carrier``
        and ``norm_status`` for the page's ``HIS_DESTINATAIRE`` and ``HIS_STATUT``."""
        positions = pc.index_in(numbers, value_set=self._known, skip_nulls=False, memory_pool=POOL)
        if positions.null_count:
            self._learn(pc.unique(numbers.filter(positions.is_null()), memory_pool=POOL))
            positions = pc.index_in(
                numbers, value_set=self._known, skip_nulls=False, memory_pool=POOL
            )
        columns = [pc.take(details, positions, memory_pool=POOL) for details in self._details]
        encoded = pc.dictionary_encode(codes, null_encoding="encode", memory_pool=POOL)
        names = [
            "unknown" if code is None else self._status_map.get(code.strip(), "unknown")
            for code in encoded.dictionary.to_pylist()
        ]
        columns.append(pc.take(pa.array(names, STRING), encoded.indices, memory_pool=POOL))
        return columns

    def _learn(self, numbers: pa.Array) -> None:
        if len(self._known) + len(numbers) > self._MAX_NUMBERS:
            # Bounded memory on accounts with countless numbers: start again.
            self._known = pa.array([], STRING)
            self._details = [pa.array([], kind) for kind in self._TYPES]
        details = [recipient_details(number or "", self._region) for number in numbers.to_pylist()]
        self._known = pa.concat_arrays([self._known, numbers], memory_pool=POOL)
        self._details = [
            pa.concat_arrays([known, pa.array(values, kind)], memory_pool=POOL)
            for known, values, kind in zip(
                self._details, zip(*details, strict=True), self._TYPES, strict=True
            )
        ]
