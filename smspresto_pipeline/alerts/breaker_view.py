"""The circuit breaker's state as the UI shows it: a few plain values, and a signature that
changes when the state does.

The alerting sensor records them as an observation of the asset ``smspresto_circuit_breaker``
each time the signature changes (a trip, a pause, a resume, a check's pass), so the asset's page
says at a glance whether campaigns are paused, why, since when and by whom; no Dagster here.

Example:
    >>> from smspresto_pipeline.sending import BreakerState
    >>> breaker_view(BreakerState())["paused"]
    False
"""

from __future__ import annotations

from smspresto_pipeline.sending import BreakerState

__all__ = ["breaker_signature", "breaker_view"]


def breaker_signature(state: BreakerState) -> str:
    """What identifies the state: the generation (every trip ever recorded) and the active
    trips (a resume ends some without a new one)."""
    active = ",".join(
        f"{t.source}|{t.partition_key or ''}|{t.tripped_at:%Y%m%dT%H%M%S%f}" for t in state.trips
    )
    return f"{state.generation}:{active}"


def breaker_view(
    state: BreakerState, resume_hint: str | None = None
) -> dict[str, str | bool | int]:
    """The state in plain values: ``paused``, ``status`` (the sentence a person reads, with
    ``resume_hint``), and for the newest active trip ``reason``, ``since`` (UTC), ``by`` (a
    person, or the check that tripped it); ``active_trips``."""
    latest = state.latest
    status = state.describe() if resume_hint is None else state.describe(resume_hint)
    view: dict[str, str | bool | int] = {
        "paused": state.tripped,
        "status": status,
        "active_trips": len(state.trips),
    }
    if latest is not None:
        view.update(
            reason=latest.reason,
            since=f"{latest.tripped_at:%Y-%m-%d %H:%M} UTC",
            by=latest.paused_by or latest.source,
        )
    return view
