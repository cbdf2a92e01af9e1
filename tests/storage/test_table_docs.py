"""The columns described in ``storage/table_docs.py`` are the DDL's, on both engines: the schema is
created, its columns read from the engine's catalog and compared, so a column added, renamed,
moved or retyped in a DDL file fails here until its description follows."""

from conftest import on_both_engines

from smspresto_pipeline.storage import SCHEMA
from smspresto_pipeline.storage.table_docs import TABLE_DOCS
from smspresto_pipeline.warehouse import Warehouse


@on_both_engines
def test_the_described_columns_are_the_ddls(warehouse: Warehouse) -> None:
    warehouse.database.ensure_schema()
    with warehouse.database.reading() as session:
        for table, doc in TABLE_DOCS.items():
            rows = session.fetch_all(
                "dml/select_table_columns.sql", {"schema": SCHEMA, "table": table}
            )
            assert [str(name) for (name,) in rows] == [c.name for c in doc.columns], table


def test_the_described_types_are_the_ddls(warehouse: Warehouse) -> None:
    """On DuckDB, whose type names the DDL uses: each described type is the column's."""
    warehouse.database.ensure_schema()
    with warehouse.reading() as con:
        for table, doc in TABLE_DOCS.items():
            found = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [SCHEMA, table],
            ).fetchall()
            assert found == [(c.name, c.type) for c in doc.columns], table


def test_every_column_is_described() -> None:
    for doc in TABLE_DOCS.values():
        for column in doc.columns:
            assert column.description.strip(), f"{doc.name}.{column.name}"
