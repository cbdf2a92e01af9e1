"""Staging a day's pages outside the database (in memory, spilled to Parquet past a size)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from smspresto_pipeline.accounts import DEFAULT_ACCOUNT, check_account
from smspresto_pipeline.api.models import ARCHIVE_FIELDS, ArchiveRecord
from smspresto_pipeline.sms.arrow import POOL, STRING
from smspresto_pipeline.storage.casting import (
    TYPED_ARCHIVE_FIELDS,
    TYPED_FROM,
    type_archive_fields,
)
from smspresto_pipeline.warehouse.enrich import Enricher

logger = logging.getLogger(__name__)

__all__ = ["SPOOL_SCHEMA", "DaySpool", "remove_orphan_spools"]

#: Spool directories are named after the process that made them, so that the staging files of
#: a process that was killed can be told from those of one still running.
_SPOOL_PREFIX = "smspresto-spool-"

_RAW_SCHEMA = pa.schema([pa.field(name, STRING) for name in ARCHIVE_FIELDS])
_RAW_STRUCT = pa.struct(list(_RAW_SCHEMA))
_PAGE_SCHEMA = pa.schema(
    [*_RAW_SCHEMA, pa.field("row_no", pa.int64()), pa.field("partition_date", pa.date32())]
)
SPOOL_SCHEMA = pa.schema(
    [
        *_PAGE_SCHEMA,
        pa.field("norm_recipient", STRING),
        pa.field("norm_recipient_valid", pa.bool_()),
        pa.field("norm_country", STRING),
        pa.field("norm_carrier", STRING),
        pa.field("norm_status", STRING),
        *TYPED_ARCHIVE_FIELDS,
    ]
)


class _RowNumbers:
    """Numbers every staged row in the order it was received, across the days of a process.

    A history id staged twice (in one day, or in two days committed together) keeps the
    reading with the highest number: the last one received.
    """

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> int:
        with self._lock:
            first = self._next
            self._next += count
        return first


_ROW_NUMBERS = _RowNumbers()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_orphan_spools(directory: Path) -> list[Path]:
    """Delete the spool directories in ``directory`` whose process is gone; returns them.

    A process killed while staging a day leaves its directory behind; one still running (this
    one, or another run side by side) keeps its own. Only POSIX can tell: elsewhere nothing is
    removed.
    """
    if os.name != "posix":
        return []
    removed: list[Path] = []
    for path in directory.glob(f"{_SPOOL_PREFIX}*"):
        pid_text = path.name[len(_SPOOL_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        logger.info("removed %s, left by process %s which is gone", path, pid_text)
    return removed


class DaySpool:
    """One day's pages, staged outside the database until it is committed.

    Each page becomes Arrow columns at once (the API's fields as strings), so the page's
    Python objects can go. The derived columns (recipient, country, carrier, status, and the
    typed id, segments and times: :func:`~smspresto_pipeline.storage.casting.type_archive_fields`)
    are worked out for many pages at a time (the column-wise enrichment costs a fixed amount per
    call), when the day is committed or spilled. Up to ``spill_rows`` rows stay in memory;
    past that the day is written to a Parquet file (in a directory named after this process,
    under ``directory`` or the system's temp dir), then every ``spill_rows`` further rows are
    appended to it, so memory holds at most ``spill_rows`` rows and one page whatever the size
    of the day. Use it as a context manager (staged rows are dropped on exit), or call
    :meth:`Warehouse.write_partition`. ``account`` is the account the day is of: committing it
    replaces that account's day only.

    Example:
        >>> import tempfile, pathlib, datetime
        >>> warehouse = Warehouse(pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb")
        >>> with warehouse.spool(datetime.date(2024, 5, 1)) as spool:
        ...     spool.add([ArchiveRecord({"IDHISTORIQUE": "7", "HIS_STATUT": "2"})])
        ...     warehouse.commit(spool).failed
        1
    """

    def __init__(
        self,
        day: date,
        *,
        derived: Enricher,
        spill_rows: int,
        directory: Path | None = None,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        self.day = day
        self.account = check_account(account)
        self.rows = 0
        self.pages = 0
        self._derived = derived
        self._spill_rows = spill_rows
        self._directory = directory
        self._raw: list[pa.RecordBatch] = []  # pages not enriched yet
        self._raw_rows = 0
        self._tables: list[pa.Table] = []  # enriched rows held in memory
        self._tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None
        self._finished = False

    def __enter__(self) -> DaySpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()

    @property
    def path(self) -> Path | None:
        """The Parquet file of a spilled day; ``None`` while the day is held in memory."""
        return None if self._tmp is None else self._tmp / "day.parquet"

    @property
    def buffered_rows(self) -> int:
        """Rows held in memory now."""
        return self._raw_rows + sum(int(table.num_rows) for table in self._tables)

    def add(self, page: Iterable[ArchiveRecord | Mapping[str, Any]]) -> None:
        """Stage one page of ``list-archive`` rows (records or raw mappings)."""
        if self._finished:
            raise RuntimeError(f"the spool of {self.day} was already finished")
        self.pages += 1
        rows = [r.raw if isinstance(r, ArchiveRecord) else r for r in page]
        if not rows:
            return
        self._raw.append(_page_batch(rows, _ROW_NUMBERS.take(len(rows)), self.day))
        self.rows += len(rows)
        self._raw_rows += len(rows)
        if self._writer is None and self.rows > self._spill_rows:
            self._spill()
        elif self._writer is not None and self._raw_rows > self._spill_rows:
            self._writer.write_table(self._enrich())

    def finish(self) -> None:
        """End staging: no page can be added after this; a spilled file is completed and
        closed."""
        self._finished = True
        if self._writer is not None:
            if self._raw:
                self._writer.write_table(self._enrich())
            self._writer.close()
            self._writer = None

    def source(self) -> pa.Table | Path:
        """The staged rows: an Arrow table in memory, or the spilled Parquet file.

        Finishes the spool. The rows of a day held in memory are enriched here, in the thread
        that commits (Arrow's kernels let the thread reading the API run meanwhile).
        """
        self.finish()
        if self.path is not None:
            return self.path
        if self._raw:
            self._tables.append(self._enrich())
        if not self._tables:
            return SPOOL_SCHEMA.empty_table()
        return pa.concat_tables(self._tables, memory_pool=POOL)

    def discard(self) -> None:
        """Drop what was staged and delete the spilled file, if any."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._raw = []
        self._raw_rows = 0
        self._tables = []
        self._finished = True
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _enrich(self) -> pa.Table:
        """The pages not enriched yet, with their derived columns, as one table."""
        raw = pa.Table.from_batches(self._raw, schema=_PAGE_SCHEMA)
        self._raw = []
        self._raw_rows = 0
        numbers = pa.concat_arrays(raw.column("HIS_DESTINATAIRE").chunks, memory_pool=POOL)
        codes = pa.concat_arrays(raw.column("HIS_STATUT").chunks, memory_pool=POOL)
        derived = self._derived.columns(numbers, codes)
        typed = type_archive_fields(raw.select(list(TYPED_FROM)))
        return pa.Table.from_arrays([*raw.columns, *derived, *typed], schema=SPOOL_SCHEMA)

    def _spill(self) -> None:
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
        prefix = f"{_SPOOL_PREFIX}{os.getpid()}-{self.day.isoformat()}-"
        self._tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=self._directory))
        assert self.path is not None
        # Uncompressed: the file lives for seconds, and compression costs more than it saves.
        self._writer = pq.ParquetWriter(self.path, SPOOL_SCHEMA, compression="none")
        for table in self._tables:
            self._writer.write_table(table)
        self._tables = []
        if self._raw:
            self._writer.write_table(self._enrich())


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _raw_batch(rows: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_struct_array(pa.array(rows, _RAW_STRUCT, memory_pool=POOL))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # A server that sends numbers as JSON numbers: the raw table keeps their text.
        columns = [[_text(row.get(name)) for row in rows] for name in ARCHIVE_FIELDS]
        return pa.RecordBatch.from_arrays(
            [pa.array(column, STRING, memory_pool=POOL) for column in columns],
            schema=_RAW_SCHEMA,
        )


def _page_batch(rows: Sequence[Mapping[str, Any]], first_row_no: int, day: date) -> pa.RecordBatch:
    raw = _raw_batch(rows)
    count = len(rows)
    return pa.RecordBatch.from_arrays(
        [
            *raw.columns,
            pa.array(range(first_row_no, first_row_no + count), pa.int64(), memory_pool=POOL),
            pa.repeat(pa.scalar(day, pa.date32()), count, memory_pool=POOL),
        ],
        schema=_PAGE_SCHEMA,
    )
