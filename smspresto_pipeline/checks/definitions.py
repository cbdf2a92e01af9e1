"""Dagster asset checks on ``archive_messages``, per partition: the failure-rate spike check and
the data-quality checks.

:func:`build_data_quality_checks` wraps `smspresto_pipeline.checks.quality` (one check each).
:func:`build_failure_spike_check` wraps :func:`~smspresto_pipeline.checks.find_failure_spikes`:
the check of a partition judges that day's segments and fails at ``ERROR`` or ``WARN`` as the
statistics say; its metadata carries the numbers a person needs to see the spike (the account's
rate with its Wilson interval, the baseline and its band, volume, p-value, the worst segments)
and a table of the recent days (rate, baseline, band) that charts well.
"""

from datetime import date, timedelta

import dagster as dg
import duckdb

from smspresto_pipeline.checks.quality import QUALITY_CHECKS, run_quality_check
from smspresto_pipeline.checks.spikes import (
    SpikeConfig,
    SpikeFinding,
    assess_history,
    find_failure_spikes,
    format_p_value,
    load_daily_counts,
)
from smspresto_pipeline.resources import WarehouseResource

__all__ = ["FAILURE_SPIKE_CHECK", "build_data_quality_checks", "build_failure_spike_check"]

#: The name of the check on ``archive_messages``.
FAILURE_SPIKE_CHECK = "failure_rate_spike"

_WORST_SHOWN = 5


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _worst(findings: list[SpikeFinding]) -> list[SpikeFinding]:
    """The flagged segments first (ERROR, then WARN), then the lowest p-values."""
    rank = {"ERROR": 0, "WARN": 1, None: 2}
    tested = [f for f in findings if f.p_value is not None]
    return sorted(tested, key=lambda f: (rank[f.severity], f.p_value))[:_WORST_SHOWN]


def _worst_table(findings: list[SpikeFinding]) -> str:
    lines = [
        "| segment | severity | rate | baseline | messages | p-value |",
        "|---|---|---|---|---|---|",
    ]
    for f in _worst(findings):
        lines.append(
            f"| {f.segment} | {f.severity or 'pass'} | {_percent(f.rate)} | "
            f"{_percent(f.baseline_rate)} | {f.messages:,} | "
            f"{format_p_value(f.p_value) if f.p_value is not None else 'n/a'} |"
        )
    return "\n".join(lines)


_RECENT_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("day", "string"),
        dg.TableColumn("messages", "int", description="final messages (delivered + failed)"),
        dg.TableColumn("failed", "int"),
        dg.TableColumn("rate", "float"),
        dg.TableColumn("baseline", "float"),
        dg.TableColumn("band_low", "float", description="95 % of days fall above"),
        dg.TableColumn("band_high", "float", description="95 % of days fall below"),
        dg.TableColumn("severity", "string"),
    ]
)


def _recent_days(
    con: duckdb.DuckDBPyConnection, day: date, config: SpikeConfig, days: int
) -> dg.TableMetadataValue:
    """The account's last ``days`` days (``day`` included), as the check judged each."""
    first = day - timedelta(days=days - 1)
    start = first - timedelta(days=2 * config.baseline_days)
    counts = load_daily_counts(con, start, day)
    walk = [start + timedelta(days=i) for i in range((day - start).days + 1)]
    results = assess_history(counts, walk, config)
    records = []
    for current in walk[-days:]:
        account = next((f for f in results[current] if f.segment == "all"), None)
        if account is None:
            continue

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        records.append(
            dg.TableRecord(
                {
                    "day": current.isoformat(),
                    "messages": account.messages,
                    "failed": account.failed,
                    "rate": rounded(account.rate),
                    "baseline": rounded(account.baseline_rate),
                    "band_low": rounded(account.baseline_low),
                    "band_high": rounded(account.baseline_high),
                    "severity": account.severity or "pass",
                }
            )
        )
    return dg.MetadataValue.table(records, schema=_RECENT_SCHEMA)


def build_failure_spike_check(
    *,
    asset: dg.AssetsDefinition,
    config: SpikeConfig | None = None,
    recent_days: int = 14,
    blocking: bool = False,
) -> dg.AssetChecksDefinition:
    """The partitioned check ``failure_rate_spike`` on ``asset`` (``archive_messages``).

    The check of a partition (a day) calls `find_failure_spikes` on the ``warehouse``
    resource's file: it fails with severity ``ERROR`` when a segment is an ``ERROR``, with
    ``WARN`` when the worst is a ``WARN``, and passes otherwise (insufficient data passes).

    Metadata: ``reason`` (the worst segment's sentence), ``failure_rate`` and
    ``failure_rate_interval`` (the account's rate and its 95 % Wilson interval),
    ``baseline_rate`` and ``baseline_band``, ``final_messages``, ``failed``, ``p_value``,
    ``flagged_segments``, ``worst_segments`` (a Markdown table) and ``recent_days`` (a table of
    the account's last ``recent_days`` days: rate, baseline, band, severity).

    Args:
        asset: the partitioned ``archive_messages`` asset the check is attached to.
        config: thresholds (`SpikeConfig`'s defaults if None).
        recent_days: days shown in ``recent_days``.
        blocking: make the check blocking (an ``ERROR`` stops downstream assets of the run).

    Example:
        .. code-block:: python

            archive = build_archive_messages_asset(start_date="2024-01-01")
            check = build_failure_spike_check(asset=archive)
            defs = dg.Definitions(assets=[archive], asset_checks=[check], resources=...)
    """
    if asset.partitions_def is None:
        raise ValueError(f"{asset.key.to_user_string()} is not partitioned: the check is per day")
    if recent_days < 1:
        raise ValueError(f"recent_days must be at least 1, got {recent_days}")
    spike_config = config or SpikeConfig()

    @dg.asset_check(
        asset=asset,
        name=FAILURE_SPIKE_CHECK,
        partitions_def=asset.partitions_def,
        blocking=blocking,
        description=(
            "Failure-rate spike of the day, per segment (account, sender, carrier), against a "
            f"{spike_config.baseline_days}-day baseline that allows for the day's volume and "
            "the usual day-to-day spread."
        ),
    )
    def failure_rate_spike(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        day = date.fromisoformat(context.partition_key)
        with warehouse.get_warehouse().reading() as con:
            findings = find_failure_spikes(con, day, spike_config)
            recent = _recent_days(con, day, spike_config, recent_days)
        flagged = [f for f in findings if f.severity is not None]
        errors = [f for f in flagged if f.severity == "ERROR"]
        account = next((f for f in findings if f.segment == "all"), None)
        worst = _worst(findings)
        headline = worst[0] if worst and worst[0].severity else account
        reason = headline.reason if headline else f"no messages on {day}"
        metadata: dict[str, dg.RawMetadataValue] = {
            "reason": reason,
            "flagged_segments": ", ".join(f.segment for f in flagged) or "none",
            "worst_segments": dg.MetadataValue.md(_worst_table(findings)),
            "recent_days": recent,
        }
        if account is not None:
            metadata.update(
                {
                    "final_messages": account.messages,
                    "failed": account.failed,
                    "failure_rate": dg.MetadataValue.float(account.rate)
                    if account.rate is not None
                    else None,
                    "failure_rate_interval": (
                        f"{_percent(account.rate)} "
                        f"({_percent(account.rate_low)} to {_percent(account.rate_high)})"
                    ),
                    "baseline_rate": dg.MetadataValue.float(account.baseline_rate)
                    if account.baseline_rate is not None
                    else None,
                    "baseline_band": (
                        f"{_percent(account.baseline_low)} to {_percent(account.baseline_high)}"
                    ),
                    "p_value": dg.MetadataValue.float(account.p_value)
                    if account.p_value is not None
                    else None,
                }
            )
        return dg.AssetCheckResult(
            passed=not flagged,
            severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
            metadata=metadata,
            description=reason,
        )

    return failure_rate_spike


# A status code nobody mapped is worth a look, not a stop: the rows are kept ("unknown").
_QUALITY_SEVERITY = {"statuses_mapped": dg.AssetCheckSeverity.WARN}


def _quality_check(asset: dg.AssetsDefinition, name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=name,
        partitions_def=asset.partitions_def,
        description=f"Data quality of the day: {name.replace('_', ' ')}.",
    )
    def quality_check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        day = date.fromisoformat(context.partition_key)
        with warehouse.get_warehouse().reading() as con:
            result = run_quality_check(con, name, day)
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=_QUALITY_SEVERITY.get(name, dg.AssetCheckSeverity.ERROR),
            description=result.description,
            metadata={"failing_rows": result.failing_rows, **result.counts},
        )

    return quality_check


def build_data_quality_checks(*, asset: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    """One partitioned check per data-quality rule on ``asset`` (``archive_messages``).

    ``history_id_unique``, ``required_fields_present`` and ``sent_not_before_created`` fail at
    ``ERROR``; ``statuses_mapped`` at ``WARN`` (unknown codes are kept and counted). Each check's
    metadata: ``failing_rows`` and the offending rows by kind (by status code for
    ``statuses_mapped``). Resource: ``warehouse``.
    """
    if asset.partitions_def is None:
        raise ValueError(f"{asset.key.to_user_string()} is not partitioned: the checks are per day")
    return [_quality_check(asset, name) for name in QUALITY_CHECKS]
