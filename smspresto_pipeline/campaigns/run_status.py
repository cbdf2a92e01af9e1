"""The Dagster instance's view of a send run, for :mod:`~smspresto_pipeline.campaigns.settle`."""

# No ``from __future__ import annotations``: a module of the campaigns' Dagster face.

from collections.abc import Callable

import dagster as dg

from smspresto_pipeline.campaigns.settle import RunStatus

__all__ = ["dagster_run_status"]


def dagster_run_status(instance: dg.DagsterInstance) -> Callable[[str], RunStatus | None]:
    """A ``status_of`` for :func:`~smspresto_pipeline.campaigns.settle.settle_dead_runs`: the
    run's status in ``instance`` (None when the instance does not know the run)."""

    def status_of(run_id: str) -> RunStatus | None:
        run = instance.get_run_by_id(run_id)
        if run is None:
            return None
        return RunStatus(over=run.is_finished, label=run.status.value)

    return status_of
