"""Data-quality checks of archive days: plain SQL over the warehouse, no Dagster.

Each check counts the offending rows of a day and passes when there are none; one query per
check reads all the days checked (grouped by day), however many:

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
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from smspresto_pipeline.checks.reading import Reader, Source, fetch_all, reader
from smspresto_pipeline.wording import plural

__all__ = ["QUALITY_CHECKS", "QualityResult", "check_data_quality", "run_quality_check"]


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


def _days(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"last must not be before first, got {first} to {last}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _rows_by_day(
    con: Reader, sql_file: str, first: date, last: date, account: str | None
) -> dict[date, list[tuple[Any, ...]]]:
    """The rows of ``sql/checks/<sql_file>.sql`` over the days (of ``account``, of every account
    when None), grouped by their first column (the day); every day of the range is a key (an
    empty list when it has no row)."""
    params = {"first": first, "last": last, "account": account}
    rows = fetch_all(con, f"checks/{sql_file}.sql", params)
    by_day: dict[date, list[tuple[Any, ...]]] = {day: [] for day in _days(first, last)}
    for day, *values in rows:
        by_day[day].append(tuple(values))
    return by_day


def _history_ids(day: date, rows: list[tuple[Any, ...]]) -> QualityResult:
    missing, repeated, elsewhere = rows[0] if rows else (0, 0, 0)
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


def _required_fields(day: date, rows: list[tuple[Any, ...]]) -> QualityResult:
    no_recipient, no_created = rows[0] if rows else (0, 0)
    counts = {"no_recipient": int(no_recipient), "no_created_at": int(no_created)}
    total = sum(counts.values())
    text = (
        "every message has a recipient and a creation time"
        if not total
        else f"{plural(counts['no_recipient'], 'message')} without a recipient, "
        f"{counts['no_created_at']} without a creation time"
    )
    return QualityResult("required_fields_present", day, not total, total, counts, text)


def _statuses(day: date, rows: list[tuple[Any, ...]]) -> QualityResult:
    # Most frequent first, ties by code in code-point order: the engines' ORDER BY of a string
    # follows their collation (PostgreSQL's database locale), which would reorder the words.
    pairs = [(str(code), int(n)) for code, n in rows]
    counts = dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))
    total = sum(counts.values())
    codes = ", ".join(f"{code!r}: {n}" for code, n in counts.items())
    text = (
        "every status code is mapped"
        if not total
        else f"{plural(total, 'message')} with a status code the status map does not name ({codes})"
    )
    return QualityResult("statuses_mapped", day, not total, total, counts, text)


def _send_times(day: date, rows: list[tuple[Any, ...]]) -> QualityResult:
    total = int(rows[0][0]) if rows else 0
    text = (
        "no message was sent before it was created"
        if not total
        else f"{plural(total, 'message')} sent before "
        f"{'it was' if total == 1 else 'they were'} created"
    )
    return QualityResult(
        "sent_not_before_created", day, not total, total, {"sent_before_created": total}, text
    )


_Judge = Callable[[date, list[tuple[Any, ...]]], QualityResult]

# Each check's query (one for all the days checked) and its verdict on one day's rows of it.
_RULES: Mapping[str, tuple[str, _Judge]] = {
    "history_id_unique": ("count_raw_id_problems", _history_ids),
    "required_fields_present": ("count_missing_required_fields", _required_fields),
    "statuses_mapped": ("select_unmapped_status_codes", _statuses),
    "sent_not_before_created": ("count_sent_before_created", _send_times),
}

#: The checks' names, in the order they run.
QUALITY_CHECKS: Sequence[str] = tuple(_RULES)


def run_quality_check(
    con: Source, name: str, first: date, last: date | None = None, *, account: str | None = None
) -> dict[date, QualityResult]:
    """The data-quality check ``name`` (one of `QUALITY_CHECKS`) on each day from ``first`` to
    ``last`` (``first`` alone when None), by day, from one query over all of them; of
    ``account``'s rows (of every account's when None)."""
    try:
        sql_file, judge = _RULES[name]
    except KeyError:
        raise ValueError(
            f"unknown quality check {name!r}; expected one of {list(QUALITY_CHECKS)}"
        ) from None
    with reader(con) as source:
        rows = _rows_by_day(source, sql_file, first, first if last is None else last, account)
    return {day: judge(day, day_rows) for day, day_rows in rows.items()}


def check_data_quality(
    con: Source, day: date, *, account: str | None = None
) -> list[QualityResult]:
    """Every data-quality check on ``day``, reading ``smspresto.archive_raw`` and ``messages``
    (``account``'s rows, every account's when None)."""
    with reader(con) as source:
        return [
            run_quality_check(source, name, day, account=account)[day] for name in QUALITY_CHECKS
        ]
