"""``smspresto archive``: the message history of a range of days into a CSV or Parquet file."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smspresto_pipeline.api.models import ARCHIVE_FIELDS, ArchiveRecord
from smspresto_pipeline.cli.common import (
    Connection,
    api_errors,
    connection_options,
    err_console,
    out_console,
)
from smspresto_pipeline.wording import plural


class _Sink(Protocol):
    def write(self, records: Sequence[ArchiveRecord]) -> None: ...

    def close(self) -> None: ...


def _cell(value: object) -> str | None:
    return None if value is None else str(value)


class _CsvSink:
    """Archive rows as CSV: the API's field names as header, values verbatim."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(ARCHIVE_FIELDS)

    def write(self, records: Sequence[ArchiveRecord]) -> None:
        self._writer.writerows(
            [_cell(r.raw.get(field)) or "" for field in ARCHIVE_FIELDS] for r in records
        )

    def close(self) -> None:
        self._file.close()


class _ParquetSink:
    """Archive rows as Parquet: one string column per API field, one row group per page."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self._schema = pa.schema([pa.field(field, pa.string()) for field in ARCHIVE_FIELDS])
        self._writer = pq.ParquetWriter(str(path), self._schema)

    def write(self, records: Sequence[ArchiveRecord]) -> None:
        if not records:
            return
        columns = {f: [_cell(r.raw.get(f)) for r in records] for f in ARCHIVE_FIELDS}
        self._writer.write_table(self._pa.Table.from_pydict(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


_SINKS: dict[str, Callable[[Path], _Sink]] = {"csv": _CsvSink, "parquet": _ParquetSink}
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@click.command()
@click.option(
    "--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day."
)
@click.option(
    "--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day (kept)."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write: .csv or .parquet.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(_SINKS)),
    help="Output format (default: from the file extension).",
)
@click.option(
    "--page-size", type=click.IntRange(min=1), default=500, show_default=True, help="Rows/request."
)
@connection_options
def archive(
    connection: Connection,
    date_from: datetime,
    date_to: datetime,
    output: Path,
    fmt: Literal["csv", "parquet"] | None,
    page_size: int,
) -> None:
    """Export the message history of days --from to --to (inclusive) to a CSV or Parquet file.

    Days are read one at a time, page by page, and written as they come: memory stays
    bounded whatever the volume. The file appears only once complete.
    """
    first, last = date_from.date(), date_to.date()
    if first > last:
        raise click.BadParameter(f"--from {first} is after --to {last}", param_hint="--from")
    fmt = fmt or _EXTENSIONS.get(output.suffix.lower())  # type: ignore[assignment]
    if fmt is None:
        raise click.BadParameter(
            f"cannot tell the format of {output.name!r}: use .csv or .parquet, or --format",
            param_hint="--output",
        )
    days = _days(first, last)
    client = connection.client()
    partial = output.with_name(output.name + ".part")
    sink = _SINKS[fmt](partial)
    rows = 0
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days, {task.fields[rows]}"),
        TimeElapsedColumn(),
        console=err_console(),
    )
    try:
        with api_errors(connection), client, progress:
            task = progress.add_task("Archive", total=len(days), rows=plural(0, "row"))
            for day in days:
                progress.update(task, description=f"Archive {day}")
                for page in client.iter_archive_pages(day, day, page_size=page_size):
                    sink.write(page)
                    rows += len(page)
                    progress.update(task, rows=plural(rows, "row"))
                progress.advance(task)
        sink.close()
        os.replace(partial, output)
    finally:
        if partial.exists():
            sink.close()
            partial.unlink()
    out_console().print(
        f"Wrote {plural(rows, 'row')} of {plural(len(days), 'day')} to {output} ({fmt}).",
        markup=False,
    )
