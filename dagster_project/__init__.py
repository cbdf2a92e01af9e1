"""The deployable Dagster code location for SMS Presto: ``dagster dev -m dagster_project``."""

from dagster_project.definitions import build_definitions, defs

__all__ = ["build_definitions", "defs"]
