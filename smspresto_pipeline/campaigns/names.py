"""The names of the campaigns' Dagster jobs that the engine's words mention, without Dagster:
the engine says how to resume the campaigns in a sensor's skip reason or a run's failure, and
the breaker's state (:mod:`smspresto_pipeline.sending.breaker`) names no job itself."""

from smspresto_pipeline.sending.breaker import RESUME_HINT

__all__ = ["DAGSTER_RESUME_HINT", "PAUSE_JOB", "RECONCILE_JOB", "RESUME_JOB"]

#: The jobs a person launches from the UI to resume or pause every campaign.
RESUME_JOB = "smspresto_resume_campaigns"
PAUSE_JOB = "smspresto_pause_campaigns"
#: The job that settles dead send runs' rows and reconciles ambiguous ones (reconcile_defs).
RECONCILE_JOB = "smspresto_reconcile_outbox"
#: How a person resumes the campaigns, as the sensors and jobs say it (passed to
#: :meth:`~smspresto_pipeline.sending.BreakerState.describe`).
DAGSTER_RESUME_HINT = f"{RESUME_HINT}, or the job {RESUME_JOB} launched in the UI"
