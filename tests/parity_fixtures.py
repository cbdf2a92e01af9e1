"""Helpers of the tests that compare the two engines on the same history: the analytics views,
their rows as both engines give them, and a check evaluation's values.

Imported by name (``pythonpath = ["tests"]``).
"""

from typing import Any

import dagster as dg

from smspresto_pipeline.warehouse import Warehouse

#: The analytics views (``analytics_views`` creates them).
VIEWS = {
    "daily_delivery_by_sender",
    "daily_segments_billed",
    "failure_rate_by_carrier",
    "hourly_volume",
    "repeatedly_failing_recipients",
}
# The snapshot's time is each run's own (taken seconds apart): the rest of the reconciliation
# must be the same.
OWN_TO_EACH_RUN = {"snapshot_taken_at"}


def view_rows(warehouse: Warehouse, view: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The view's columns and all its rows, sorted (a view has no order of its own, and the
    engines sort strings by different collations)."""
    with warehouse.connect(read_only=True) as con:
        cursor = con.execute(f"SELECT * FROM smspresto.{view}")  # a name from VIEWS
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    return columns, sorted(rows, key=lambda row: [(value is None, str(value)) for value in row])


def values(evaluation: dg.AssetCheckEvaluation) -> dict[str, Any]:
    """The evaluation's metadata values, but those each run has its own of."""
    return {
        name: value.value
        for name, value in evaluation.metadata.items()
        if name not in OWN_TO_EACH_RUN
    }
