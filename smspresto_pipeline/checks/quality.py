"""Data-quality checks of one archive day: plain SQL over the warehouse, no Dagster.

Each check counts the offending rows of a day and passes when there are none:

* ``history_id_unique``: every row the API sent has a numeric ``IDHISTORIQUE``, none repeats
  within the day, none also belongs to another day (``archive_raw``, the API's rows verbatim);
* ``required_fields_present``: every message has a recipient and a creation time;
* ``statuses_mapped``: every ``HIS_STATUT`` code is named by the status map (the unknown codes
  are counted, code by code: a new code the API started to send shows here first);
* ``sent_not_before_created``: no message was sent before it was created.

Example:
    >>> with warehouse.reading() as con:  # doctest: +SKIP
    ...     [(r.name, r.passed) for r in check_data_quality(con, date(2025, 3, 10))]
    [('history_id_unique', True), ('required_fields_present', True), ...]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Protocol

from smspresto_pipeline.storage.queries import load_sql
from smspresto_pipeline.wording import plural

__all__ = ["QUALITY_CHECKS", "QualityResult", "check_data_quality", "run_quality_check"]


class _Connection(Protocol):
    """What is used of a DuckDB connection (``duckdb.DuckDBPyConnection``)."""

    def execute(self, query: str, parameters: object = ..., /) -> _Connection: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class QualityResult:
    """The outcome of one data-quality check on one day.

    Attributes:
        name: the check (one of `QUALITY_CHECKS`).
        day: the archive day checked.
        passed: no offending row.
        failing_rows: how many rows offend.
        counts: the offending rows by kind (for ``statuses_mapped``: by status code).
        description: one sentence for people.
    """

    name: str
    day: date
    passed: bool
    failing_rows: int
    counts: Mapping[str, int]
    description: str


def _rows(con: _Connection, sql_file: str, day: date) -> list[tuple[Any, ...]]:
    return con.execute(load_sql(f"checks/{sql_file}.sql"), {"day": day}).fetchall()


def _history_ids(con: _Connection, day: date) -> QualityResult:
    missing, repeated, elsewhere = _rows(con, "count_raw_id_problems", day)[0]
    counts = {"missing": int(missing), "repeated": int(repeated), "in_other_days": int(elsewhere)}
    total = sum(counts.values())
    text = (
        "every history id is numeric and unique"
        if not total
        else f"{plural(counts['missing'], 'row')} without a numeric history id, "
        f"{counts['repeated']} repeated within the day, {counts['in_other_days']} also in "
        "another day"
    )
    return QualityResult("history_id_unique", day, not total, total, counts, text)


def _required_fields(con: _Connection, day: date) -> QualityResult:
    no_recipient, no_created = _rows(con, "count_missing_required_fields", day)[0]
    counts = {"no_recipient": int(no_recipient), "no_created_at": int(no_created)}
    total = sum(counts.values())
    text = (
        "every message has a recipient and a creation time"
        if not total
        else f"{plural(counts['no_recipient'], 'message')} without a recipient, "
        f"{counts['no_created_at']} without a creation time"
    )
    return QualityResult("required_fields_present", day, not total, total, counts, text)


def _statuses(con: _Connection, day: date) -> QualityResult:
    counts = {str(code): int(n) for code, n in _rows(con, "select_unmapped_status_codes", day)}
    total = sum(counts.values())
    codes = ", ".join(f"{code!r}: {n}" for code, n in counts.items())
    text = (
        "every status code is mapped"
        if not total
        else f"{plural(total, 'message')} with a status code the status map does not name ({codes})"
    )
    return QualityResult("statuses_mapped", day, not total, total, counts, text)


def _send_times(con: _Connection, day: date) -> QualityResult:
    total = int(_rows(con, "count_sent_before_created", day)[0][0])
    text = (
        "no message was sent before it was created"
        if not total
        else f"{plural(total, 'message')} sent before "
        f"{'it was' if total == 1 else 'they were'} created"
    )
    return QualityResult(
        "sent_not_before_created", day, not total, total, {"sent_before_created": total}, text
    )


#: The checks, by name, in the order they run.
QUALITY_CHECKS: Mapping[str, Callable[[_Connection, date], QualityResult]] = {
    "history_id_unique": _history_ids,
    "required_fields_present": _required_fields,
    "statuses_mapped": _statuses,
    "sent_not_before_created": _send_times,
}


def run_quality_check(con: _Connection, name: str, day: date) -> QualityResult:
    """Run the data-quality check ``name`` (one of `QUALITY_CHECKS`) on ``day``."""
    try:
        check = QUALITY_CHECKS[name]
    except KeyError:
        known = list(QUALITY_CHECKS)
        raise ValueError(f"unknown quality check {name!r}; expected one of {known}") from None
    return check(con, day)


def check_data_quality(con: _Connection, day: date) -> list[QualityResult]:
    """Every data-quality check on ``day``, reading ``smspresto.archive_raw`` and ``messages``."""
    return [check(con, day) for check in QUALITY_CHECKS.values()]
