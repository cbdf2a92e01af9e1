"""The intraday spike check as a Dagster asset check: today's failures so far against the same
hours of the earlier days (:mod:`~smspresto_pipeline.checks.intraday`), evaluated with each
materialization of the asset that keeps today's rows (``archive_messages_today``, every 15
minutes), and driving the circuit breaker as the daily spike check does.

The check reads the warehouse, not the asset's output: the asset is what the check is shown on
and what runs it. Its partition for the breaker is today's date: an ``ERROR`` trips the breaker
for today (every campaign pauses), a later pass today ends that trip, and the daily check's
trips (``failure_rate_spike``) are its own. A trip outlives midnight: the next day's first
evaluations have too few messages to say the outage is over, so they end nothing; a person
resumes (``smspresto campaigns resume``) once the carrier is back, as after any trip.
"""

# No ``from __future__ import annotations``: Dagster reads the check's annotations.

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from smspresto_pipeline.accounts import check_account
from smspresto_pipeline.checks.definitions import SpikeBreaker, spike_check_result, spike_reason
from smspresto_pipeline.checks.intraday import IntradayConfig, assess_intraday
from smspresto_pipeline.resources import WarehouseResource
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone

__all__ = ["INTRADAY_ASSET", "build_intraday_spike_check"]

#: The asset that keeps today's rows, which the check is attached to unless told another.
INTRADAY_ASSET = dg.AssetKey("archive_messages_today")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_intraday_spike_check(
    *,
    asset_key: dg.AssetKey = INTRADAY_ASSET,
    config: IntradayConfig | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    circuit_breaker: bool = True,
    blocking: bool = False,
    account: str | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> dg.AssetChecksDefinition:
    """The check ``<asset>_failure_spike`` (``archive_messages_today_failure_spike``) on
    ``asset_key``: today so far, per segment, against the same hours of the earlier days.

    Each evaluation (a materialization of the asset with its checks, every 15 minutes) judges
    today's messages created before ``now() - settle_lag`` in ``timezone`` (the account's), and
    fails at ``ERROR`` or ``WARN`` as the worst segment is (:func:`~smspresto_pipeline.checks.
    intraday.assess_intraday`; its thresholds are spent over the day's evaluations, so that a
    day of them raises no more false alarms than one daily look). With ``circuit_breaker``, an
    ``ERROR`` trips the breaker for today's date and a pass ends that trip (``WARN`` changes
    nothing), under the check's own name (``check:<name>``, or ``check:<account>__<name>``).

    Metadata: as the daily check's (``reason``, ``flagged_segments``, ``worst_segments``, the
    account's ``failure_rate`` with its interval, ``baseline_rate`` and band, ``final_messages``,
    ``failed``, ``p_value``), plus ``cutoff`` (messages created before it count), ``pending``
    (today's messages before it still pending, left out), ``error_p_per_evaluation`` and, with
    ``circuit_breaker``, ``circuit_breaker`` (the breaker's state after it).

    Args:
        asset_key: the asset that keeps today's rows.
        config: the thresholds (`IntradayConfig`'s defaults if None); ``interval_minutes`` is
            the asset's schedule's.
        timezone: the account's time zone (``created_at`` is its local time).
        circuit_breaker: let the check's outcome trip and clear the circuit breaker.
        blocking: make the check blocking (an ``ERROR`` stops downstream assets of the run).
        account: the account whose rows are judged (every account's together when None).
        now: the evaluation's time, aware (the clock; tests pass a fixed one).

    Example:
        .. code-block:: python

            check = build_intraday_spike_check(timezone="Africa/Abidjan")
            defs = dg.Definitions(assets=[archive_today], asset_checks=[check], resources=...)
    """
    check_timezone(timezone)
    if account is not None:
        check_account(account)
    settings = config or IntradayConfig()
    name = f"{asset_key.path[-1]}_failure_spike"

    @dg.asset_check(
        asset=asset_key,
        name=name,
        blocking=blocking,
        description=(
            "Failure-rate spike of today so far, per segment (account, sender, carrier), against "
            f"the same hours of the last {settings.spikes.baseline_days} days, counting messages "
            f"settled {settings.settle_lag_minutes} min; its alarm rate is spent over the day's "
            f"{settings.evaluations_per_day} evaluations."
        ),
    )
    def intraday_spike(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        assessment = assess_intraday(
            warehouse.get_warehouse(), now(), timezone=timezone, config=settings, account=account
        )
        findings = assessment.findings
        cutoff = f"{assessment.cutoff:%Y-%m-%d %H:%M} ({timezone})"
        reason = spike_reason(findings, f"no settled messages today before {cutoff}")
        extra: dict[str, dg.RawMetadataValue] = {
            "cutoff": cutoff,
            "pending": assessment.pending.get("all", 0),
            "error_p_per_evaluation": dg.MetadataValue.float(
                float(f"{settings.evaluation_config().error_p:.3g}")
            ),
        }
        if circuit_breaker:
            breaker = SpikeBreaker(warehouse, account, check=name)
            extra["circuit_breaker"] = breaker.record(
                assessment.day,
                assessment.severity,
                f"{reason} (today's messages before {assessment.cutoff:%H:%M})",
            )
        return spike_check_result(findings, reason, extra)

    return intraday_spike
