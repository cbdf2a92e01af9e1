"""The warehouse: the message history in schema ``smspresto``, written over the storage port
(:mod:`smspresto_pipeline.storage`) in idempotent, crash-safe partition writes.

A day of history is written in two steps so that memory stays bounded and the database's
single-writer lock is held only while there is something to write:

1. *Staging.* Pages are appended to a :class:`DaySpool`: each page becomes an Arrow record
   batch (the API's fields verbatim as strings); the recipient, country, carrier and status are
   derived column-wise for many pages at once (``sms.numbering``: ``phonenumbers``' metadata
   compiled into RE2 patterns and prefix tables, ``phonenumbers`` itself only for the numbers
   outside them). A day stays in memory up to ``spill_rows`` rows; a larger day is spilled to
   a Parquet file in a temporary directory and streamed from there, so memory holds at most
   ``spill_rows`` rows and one page of it whatever its size. The database is not touched, so
   nothing is locked while the API is being read, and a crash leaves the tables as they were.
2. *Commit.* One transaction deletes the day from ``archive_raw`` and ``messages`` and inserts
   it again from the staged rows, typing the fields in SQL (``TRY_CAST``). Re-running a day
   therefore gives the same table, and no reader ever sees half a day. A :class:`DayWriter`
   commits the days of a run from one background thread, gathering finished days into
   transactions of tens of thousands of rows (each day whole: DuckDB writes one large
   transaction several times faster than many small ones), over one connection kept open while
   days keep coming and closed once none came for ``idle_release`` seconds.

DuckDB lets one process at a time open a file for writing. The storage port opens and closes
connections (never kept after a failed statement), and waits for a lock held by another
process with exponential backoff and jitter, up to ``lock_timeout`` seconds over all of a
``Warehouse``'s connections; each wait is reported (who holds the file) when it starts, every
30 s, and when it ends, on this package's logger. Only a lock is waited for
(:func:`~smspresto_pipeline.storage.is_lock_conflict` tells it from the rest): a file DuckDB
cannot open for another reason (a directory, not a DuckDB file, a corrupt one) raises
:class:`WarehouseOpenError` at once, naming the path and DuckDB's message.

DuckDB names a file's catalog after its name, so a file called ``smspresto.duckdb`` makes
``smspresto.messages`` ambiguous (catalog or schema?). The DuckDB engine attaches the file under
the alias ``warehouse``, and the views name their tables without a schema, so both work whatever
the file is called; direct SQL on a ``smspresto.duckdb`` file must say ``smspresto.smspresto.x``.

SQL lives in ``storage/sql/`` inside the package, run by name with bound parameters.

The same file holds what sending must remember (the outbox, opt-outs, activations, the
circuit breaker's state): that is :mod:`smspresto_pipeline.sending`, apart from the history.

Modules: ``store`` (:class:`Warehouse`), ``staging`` (:class:`DaySpool`), ``writer``
(:class:`DayWriter`), ``replace`` (the one transaction that replaces days), ``enrich``
(a page's recipient details, by the number rules of ``sms.numbering``, and status names),
``stats`` (:class:`PartitionStats`), ``intraday`` (today's rows upserted while the day goes,
with the cursor where the next read resumes: :class:`IntradayCursor`);
:func:`run_read_only_query` runs a user's query kept to reading the warehouse's tables.
No Dagster here.

Example:
    >>> import tempfile, pathlib, datetime
    >>> from smspresto_pipeline.api.models import ArchiveRecord
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sms.duckdb"
    >>> warehouse = Warehouse(path)
    >>> page = [ArchiveRecord({"IDHISTORIQUE": "1", "HIS_DESTINATAIRE": "+2250708081488",
    ...                        "HIS_STATUT": "1", "HIS_NOMBRESMS": "1"})]
    >>> stats = warehouse.write_partition(datetime.date(2024, 5, 1), [page])
    >>> stats.rows, stats.delivered, stats.failure_rate
    (1, 1, 0.0)
"""

from smspresto_pipeline.storage import (
    SCHEMA,
    QueryRefusedError,
    ReadOnlyQueryError,
    WarehouseLockedError,
    WarehouseOpenError,
    WarehousePathError,
    WarehouseSchemaError,
    check_path,
)
from smspresto_pipeline.warehouse.enrich import DEFAULT_STATUS_MAP
from smspresto_pipeline.warehouse.intraday import IntradayCursor, IntradayWrite
from smspresto_pipeline.warehouse.staging import DaySpool
from smspresto_pipeline.warehouse.stats import PartitionStats
from smspresto_pipeline.warehouse.store import Warehouse, run_read_only_query
from smspresto_pipeline.warehouse.writer import DayWriter

__all__ = [
    "DEFAULT_STATUS_MAP",
    "SCHEMA",
    "DaySpool",
    "DayWriter",
    "IntradayCursor",
    "IntradayWrite",
    "PartitionStats",
    "QueryRefusedError",
    "ReadOnlyQueryError",
    "Warehouse",
    "WarehouseLockedError",
    "WarehouseOpenError",
    "WarehousePathError",
    "WarehouseSchemaError",
    "check_path",
    "run_read_only_query",
]
