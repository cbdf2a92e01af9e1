"""The circuit breaker's jobs for people in the UI: resume every campaign, or pause them all.

:func:`build_breaker_defs` gives two jobs using the ``warehouse`` resource
(:class:`~smspresto_pipeline.resources.WarehouseResource`), which the caller binds:

* ``smspresto_resume_campaigns`` (config ``reason``, optional ``by``): ends every active trip of
  the breaker (:meth:`~smspresto_pipeline.sending.CircuitBreaker.resume`), whatever tripped it:
  the campaign sensors request runs again at their next evaluation;
* ``smspresto_pause_campaigns`` (config ``reason``, optional ``by``): trips the breaker by hand;
  it stays tripped until a person resumes (a check passing does not end a person's pause).

The same is done from a shell with ``smspresto campaigns resume|pause --reason "..."``; the
history, with who and why, with ``smspresto campaigns status``.

Example:
    .. code-block:: python

        defs = dg.Definitions.merge(
            build_breaker_defs(),
            dg.Definitions(resources={"warehouse": WarehouseResource(path=...)}),
        )
"""

# No ``from __future__ import annotations``: Dagster reads the ops' annotations.

import dagster as dg
from pydantic import Field

from smspresto_pipeline.campaigns.names import DAGSTER_RESUME_HINT, PAUSE_JOB, RESUME_JOB
from smspresto_pipeline.resources import WarehouseResource
from smspresto_pipeline.sending import CircuitBreaker

__all__ = [
    "DAGSTER_RESUME_HINT",
    "PAUSE_JOB",
    "RESUME_JOB",
    "BreakerJobConfig",
    "build_breaker_defs",
]


class BreakerJobConfig(dg.Config):
    """The run config of the resume and pause jobs."""

    reason: str = Field(
        description="Why (kept in the breaker's history, shown by the campaign sensors and by "
        "`smspresto campaigns status`).",
    )
    by: str = Field(
        default="",
        description="Who: your name. Default: the user who launched the run (when the "
        "deployment records one), else 'the UI'.",
    )


def _person(context: dg.OpExecutionContext, config: BreakerJobConfig) -> str:
    return config.by.strip() or context.run.tags.get("dagster/user") or "the UI"


def _require_reason(config: BreakerJobConfig) -> None:
    if not config.reason.strip():
        raise dg.Failure(description="give a reason: it is kept in the breaker's history")


@dg.op(name="smspresto_resume", tags={"kind": "duckdb"})
def _resume_op(
    context: dg.OpExecutionContext, config: BreakerJobConfig, warehouse: WarehouseResource
) -> dg.Output[None]:
    """Ends every active trip of the circuit breaker: campaigns send again."""
    _require_reason(config)
    ended = CircuitBreaker(warehouse.get_warehouse()).resume(
        by=f"{_person(context, config)} (run {context.run_id})", reason=config.reason
    )
    if ended:
        for trip in ended:
            context.log.info(f"resumed: {trip.describe()}")
    else:
        context.log.info("the campaigns were not paused: nothing to resume")
    return dg.Output(
        None,
        metadata={
            "resumed_trips": dg.MetadataValue.int(len(ended)),
            "trips": dg.MetadataValue.json([trip.describe() for trip in ended]),
        },
    )


@dg.op(name="smspresto_pause", tags={"kind": "duckdb"})
def _pause_op(
    context: dg.OpExecutionContext, config: BreakerJobConfig, warehouse: WarehouseResource
) -> dg.Output[None]:
    """Trips the circuit breaker by hand: every campaign pauses until a person resumes."""
    _require_reason(config)
    trip = CircuitBreaker(warehouse.get_warehouse()).trip(
        config.reason, source=f"job:{PAUSE_JOB}:{_person(context, config)}"
    )
    context.log.warning(f"campaigns paused: {trip.describe()}")
    return dg.Output(None, metadata={"trip": dg.MetadataValue.text(trip.describe())})


def build_breaker_defs() -> dg.Definitions:
    """The jobs ``smspresto_resume_campaigns`` and ``smspresto_pause_campaigns``.

    The ``warehouse`` resource is the caller's to bind (the file the campaigns read).
    """

    @dg.job(
        name=RESUME_JOB,
        description="Resumes every campaign the circuit breaker paused (a failure-rate spike "
        "or a person's pause). Config: reason (required), by.",
        tags={"smspresto/circuit_breaker": "resume"},
    )
    def resume_job() -> None:
        _resume_op()

    @dg.job(
        name=PAUSE_JOB,
        description="Pauses every campaign (their sensors skip, their jobs refuse to send) until "
        f"a person resumes them with {RESUME_JOB}. Config: reason (required), by.",
        tags={"smspresto/circuit_breaker": "pause"},
    )
    def pause_job() -> None:
        _pause_op()

    return dg.Definitions(jobs=[resume_job, pause_job])
