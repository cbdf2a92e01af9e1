"""Dagster asset checks on ``archive_messages``, per partition: the failure-rate spike check and
the data-quality checks, in one step for all the days of a run; the job that evaluates them and
the sensor that launches it; and the reconciliation of the account counters on
``account_snapshot`` (not partitioned).

:func:`build_archive_checks` is the five checks of the archive in one step (what
:func:`~smspresto_pipeline.ingest.build_ingest_defs` wires): a run over a range of days (``dagster
asset materialize --partition-range``, a single-run backfill in the UI, a batch of the checks
sensor) starts one step process, not one per check, and each check reads all the run's days in
one query grouped by day; each (check, day) is still recorded as an evaluation of that day's
partition, against that day's materialization. :func:`build_failure_spike_check` and
:func:`build_data_quality_checks` are the same checks in a step of their own.
The spike check wraps :func:`~smspresto_pipeline.checks.spikes.find_failure_spikes_by_day`:
the check of a day judges that day's segments and fails at ``ERROR`` or ``WARN`` as the
statistics say; its metadata carries the numbers a person needs to see the spike (the account's
rate with its Wilson interval, the baseline and its band, volume, p-value, the worst segments)
and a table of the recent days (rate, baseline, band) that charts well. An ``ERROR`` trips the
circuit breaker (campaigns pause), a pass ends that day's trip, day by day in day order.
:func:`build_counters_reconcile_check` wraps
:func:`~smspresto_pipeline.checks.counters.check_counters_reconcile`; it runs with each
materialization of the snapshot (the hourly snapshot job selects it).

The ingestion's ranged runs (the daily ingest with its lookback) leave the checks out:
:func:`build_checks_sensor` requests runs of the checks-only job (:func:`build_checks_job`)
for the days materialized, one run per stretch of consecutive days.
"""

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
from dagster import AssetRecordsFilter, DagsterEventType

# Not exported by dagster: an AssetCheckResult fills it in only for a step of one partition.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# What makes a run one over a range of partitions (the ingestion has them too, in
# smspresto_pipeline.ingest.schedules, a layer checks does not import).
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from smspresto_pipeline.accounts import check_account, prefixed
from smspresto_pipeline.checks.counters import (
    COUNTERS_RECONCILE,
    check_counters_reconcile,
    validate_tolerances,
)
from smspresto_pipeline.checks.freshness import stale_history_note
from smspresto_pipeline.checks.quality import QUALITY_CHECKS, QualityResult, run_quality_check
from smspresto_pipeline.checks.spikes import (
    SpikeConfig,
    SpikeFinding,
    find_failure_spikes_by_day,
    format_p_value,
    worst_severity,
)
from smspresto_pipeline.resources import WarehouseResource
from smspresto_pipeline.sending.breaker import CircuitBreaker, record_check_outcome
from smspresto_pipeline.storage import Session
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE
from smspresto_pipeline.wording import plural

if TYPE_CHECKING:
    # What define_asset_job returns; dagster does not export the class under its top name.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

__all__ = [
    "CHECKS_JOB",
    "CHECKS_SENSOR",
    "COUNTERS_RECONCILE",
    "DEFAULT_BREAKER_DAYS",
    "DEFAULT_RECENT_DAYS",
    "FAILURE_SPIKE_CHECK",
    "build_archive_checks",
    "build_checks_job",
    "build_checks_sensor",
    "build_counters_reconcile_check",
    "build_data_quality_checks",
    "build_failure_spike_check",
]

#: Days of daily rates a spike result shows in its ``recent_days`` table.
DEFAULT_RECENT_DAYS = 14
#: Only a spike on one of this many newest days stored pauses the campaigns.
DEFAULT_BREAKER_DAYS = 7

#: The name of the check on ``archive_messages``.
FAILURE_SPIKE_CHECK = "failure_rate_spike"
#: The job that evaluates the checks of ``archive_messages`` for the days (partitions) of a run.
CHECKS_JOB = "smspresto_archive_checks"
#: The sensor that launches it for the days materialized, one run per stretch of consecutive days.
CHECKS_SENSOR = "smspresto_archive_checks_sensor"

_WORST_SHOWN = 5


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _rate(value: float | None) -> float | None:
    """A rate as metadata: 4 decimals (0.01 %) say all a day's rate can; None stays None."""
    return None if value is None else round(value, 4)


def _float(value: float | None) -> dg.MetadataValue | None:
    """A number that stays a number in the UI (it plots); None when there is none."""
    return None if value is None else dg.MetadataValue.float(value)


def _worst(findings: Sequence[SpikeFinding]) -> list[SpikeFinding]:
    """The flagged segments first (ERROR, then WARN), then the lowest p-values."""
    rank = {"ERROR": 0, "WARN": 1, None: 2}
    tested = [f for f in findings if f.p_value is not None]
    return sorted(tested, key=lambda f: (rank[f.severity], f.p_value))[:_WORST_SHOWN]


def _worst_table(findings: Sequence[SpikeFinding]) -> str:
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
    findings_by_day: Mapping[date, list[SpikeFinding]], day: date, days: int
) -> dg.TableMetadataValue:
    """The account's last ``days`` days (``day`` included), as the check judged each."""
    records = []
    for current in (day - timedelta(days=back) for back in reversed(range(days))):
        findings = findings_by_day.get(current, [])
        account = next((f for f in findings if f.segment == "all"), None)
        if account is None:
            continue
        records.append(
            dg.TableRecord(
                {
                    "day": current.isoformat(),
                    "messages": account.messages,
                    "failed": account.failed,
                    "rate": _rate(account.rate),
                    "baseline": _rate(account.baseline_rate),
                    "band_low": _rate(account.baseline_low),
                    "band_high": _rate(account.baseline_high),
                    "severity": account.severity or "pass",
                }
            )
        )
    return dg.MetadataValue.table(records, schema=_RECENT_SCHEMA)


@dataclasses.dataclass(frozen=True, slots=True)
class _SpikeOptions:
    """How the failure-rate spike check judges and what it may do (see
    :func:`build_failure_spike_check`)."""

    config: SpikeConfig
    recent_days: int
    blocking: bool
    circuit_breaker: bool
    breaker_days: int
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def of(
        cls,
        asset: dg.AssetsDefinition,
        config: SpikeConfig | None,
        recent_days: int,
        blocking: bool,
        circuit_breaker: bool,
        breaker_days: int,
    ) -> "_SpikeOptions":
        _require_partitions(asset)
        if recent_days < 1:
            raise ValueError(f"recent_days must be at least 1, got {recent_days}")
        if breaker_days < 1:
            raise ValueError(f"breaker_days must be at least 1, got {breaker_days}")
        # The days are the partitions' days: their time zone is the account's.
        timezone = getattr(asset.partitions_def, "timezone", None) or DEFAULT_TIMEZONE
        return cls(
            config or SpikeConfig(), recent_days, blocking, circuit_breaker, breaker_days, timezone
        )

    @property
    def description(self) -> str:
        return (
            "Failure-rate spike of the day, per segment (account, sender, carrier), against a "
            f"{self.config.baseline_days}-day baseline that allows for the day's volume and the "
            "usual day-to-day spread."
        )

    def spec(self, asset: dg.AssetsDefinition) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            FAILURE_SPIKE_CHECK,
            asset=asset.key,
            partitions_def=asset.partitions_def,
            blocking=self.blocking,
            description=self.description,
        )


def _require_partitions(asset: dg.AssetsDefinition) -> None:
    if asset.partitions_def is None:
        raise ValueError(f"{asset.key.to_user_string()} is not partitioned: the checks are per day")


def _quality_spec(asset: dg.AssetsDefinition, name: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=asset.key,
        partitions_def=asset.partitions_def,
        description=f"Data quality of the day: {name.replace('_', ' ')}.",
    )


class SpikeBreaker:
    """A spike check's way to the circuit breaker, over the days of a run in day order:
    ``ERROR`` trips it for the day, a pass ends that day's trip, ``WARN`` changes nothing.

    On a stale history (its newest day older than the freshness check allows,
    :func:`~smspresto_pipeline.checks.freshness.stale_history_note`) the breaker still trips on
    a recent day's ``ERROR`` (blind to today, pausing is the safe side until a person looks),
    but the trip's reason says the history is stale, and so does every text that shows it (the
    campaign sensors, the send runs, ``smspresto campaigns status``, the alerts): the days
    judged are never presented as today's.

    The breaker is read once; only an outcome that changes it is recorded (one short write
    each), so a run over many passing days does not open the file once per day. A named
    account's check trips and clears its own trips (``check:<account>__<check>``): one
    account's quiet day never ends another's spike. ``check`` is the check's name
    (``failure_rate_spike``; the intraday check passes its own, so that each clears only its
    own trips).
    """

    def __init__(
        self, warehouse: WarehouseResource, account: str | None, check: str = FAILURE_SPIKE_CHECK
    ) -> None:
        self.warehouse = warehouse.get_warehouse()
        self.state = CircuitBreaker(self.warehouse).state()
        self.check_name = prefixed(check, account)

    def record(self, day: date, severity: str | None, reason: str, stale: str | None = None) -> str:
        """Record ``day``'s outcome (``stale``: the history's staleness, said in the trip's
        reason); the breaker's state after it, in words."""
        partition = day.isoformat()
        if severity == "ERROR" or (
            severity is None and self.state.tripped_by_check(self.check_name, partition)
        ):
            self.state = record_check_outcome(
                self.warehouse,
                check_name=self.check_name,
                partition=partition,
                severity=severity,
                reason=f"{reason} on {partition}" + (f", {stale}" if stale else ""),
            )
        return self.state.describe()


def spike_reason(findings: Sequence[SpikeFinding], empty: str) -> str:
    """The sentence of a spike check's result: the worst flagged segment's, else the account's
    (``empty`` when there is neither)."""
    worst = _worst(findings)
    headline = worst[0] if worst and worst[0].severity else None
    if headline is None:
        headline = next((f for f in findings if f.segment == "all"), None)
    return headline.reason if headline else empty


def spike_check_result(
    findings: Sequence[SpikeFinding], reason: str, extra: "Mapping[str, dg.RawMetadataValue]"
) -> dg.AssetCheckResult:
    """A spike check's result over ``findings`` (one per segment): failed at ``ERROR`` or
    ``WARN`` as the worst segment is, described by ``reason``; metadata: ``reason``,
    ``flagged_segments``, ``worst_segments``, ``extra``, then the account's figures (rate and
    its Wilson interval, baseline and band, volume, p-value)."""
    flagged = [f for f in findings if f.severity is not None]
    account = next((f for f in findings if f.segment == "all"), None)
    metadata: dict[str, dg.RawMetadataValue] = {
        "reason": reason,
        "flagged_segments": ", ".join(f.segment for f in flagged) or "none",
        "worst_segments": dg.MetadataValue.md(_worst_table(findings)),
        **extra,
    }
    if account is not None:
        metadata.update(
            {
                "final_messages": account.messages,
                "failed": account.failed,
                "failure_rate": _float(_rate(account.rate)),
                "failure_rate_interval": (
                    f"{_percent(account.rate)} "
                    f"({_percent(account.rate_low)} to {_percent(account.rate_high)})"
                ),
                "baseline_rate": _float(_rate(account.baseline_rate)),
                "baseline_band": (
                    f"{_percent(account.baseline_low)} to {_percent(account.baseline_high)}"
                ),
                # 3 significant digits: 7.02e-06, not 0.000007024566263688321.
                "p_value": _float(
                    None if account.p_value is None else float(f"{account.p_value:.3g}")
                ),
            }
        )
    errors = worst_severity(findings) == "ERROR"
    return dg.AssetCheckResult(
        passed=not flagged,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=reason,
    )


def _judge_spike(
    day: date,
    findings_by_day: Mapping[date, list[SpikeFinding]],
    newest: date | None,
    options: _SpikeOptions,
    breaker: SpikeBreaker | None,
) -> dg.AssetCheckResult:
    """The spike check's result for ``day``; with a ``breaker``, its outcome drives it."""
    findings = findings_by_day[day]
    reason = spike_reason(findings, f"no messages on {day}")
    extra: dict[str, dg.RawMetadataValue] = {
        "recent_days": _recent_days(findings_by_day, day, options.recent_days),
    }
    if breaker is not None:
        severity = worst_severity(findings)
        age = 0 if newest is None else (newest - day).days
        history = severity == "ERROR" and age >= options.breaker_days
        stale = stale_history_note(newest, datetime.now(UTC), options.timezone)
        # A spike in history is read by the breaker as a WARN, which changes nothing.
        state = breaker.record(day, "WARN" if history else severity, reason, stale)
        extra["circuit_breaker"] = (
            f"{day} is {plural(age, 'day')} before the newest day stored ({newest}): a spike "
            f"this old does not pause campaigns (breaker_days {options.breaker_days}); {state}"
            if history
            else state
        ) + (f" ({stale})" if stale else "")
    return spike_check_result(findings, reason, extra)


# A status code nobody mapped is worth a look, not a stop: the rows are kept ("unknown").
_QUALITY_SEVERITY = {"statuses_mapped": dg.AssetCheckSeverity.WARN}


def _quality_result(result: QualityResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=_QUALITY_SEVERITY.get(result.name, dg.AssetCheckSeverity.ERROR),
        description=result.description,
        metadata={"failing_rows": result.failing_rows, **result.counts},
    )


def _targets(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Sequence[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each of ``partitions`` (by partition; a day never
    materialized has none), read in two queries whatever their number: what the UI compares
    with a day's newest materialization to show its check as current."""
    latest = instance.get_latest_storage_id_by_partition(
        key, DagsterEventType.ASSET_MATERIALIZATION
    )
    ids = [latest[partition] for partition in partitions if partition in latest]
    if not ids:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, storage_ids=ids), limit=len(ids)
    ).records
    return {
        record.partition_key: AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
        )
        for record in records
        if record.partition_key is not None
    }


def _build_checks(
    asset: dg.AssetsDefinition,
    *,
    name: str,
    quality: Sequence[str],
    spike: _SpikeOptions | None,
    description: str,
    account: str | None,
) -> dg.AssetChecksDefinition:
    """The checks ``quality`` (data-quality rules) and, with ``spike``, ``failure_rate_spike`` on
    ``asset``, evaluated in one step named ``name`` for all the days of its run.

    A run of one day and a ranged run (``dagster asset materialize --partition-range``, a
    single-run backfill, a batch of the checks sensor) alike: each check reads all the run's
    days in one query, and each (check, day) is recorded as an evaluation of that partition,
    in day order (the spike check drives the circuit breaker day by day). A run that selects
    some of the checks (the UI's "execute" of one check) evaluates those alone. The checks read
    ``account``'s rows (every account's when None).
    """
    _require_partitions(asset)
    if account is not None:
        check_account(account)
    specs = [*([spike.spec(asset)] if spike else []), *(_quality_spec(asset, n) for n in quality)]

    @dg.multi_asset_check(specs=specs, name=name, can_subset=True, description=description)
    def archive_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
        keys = sorted(context.partition_keys)  # one day, or each day of a ranged run
        days = [date.fromisoformat(key) for key in keys]
        selected = {key.name for key in context.selected_asset_check_keys}
        quality_results: dict[str, dict[date, QualityResult]] = {}
        spikes: dict[date, list[SpikeFinding]] = {}
        newest = None
        judged = spike if FAILURE_SPIKE_CHECK in selected else None  # the spike check's options
        with warehouse.get_warehouse().database.reading() as session:
            for check_name in quality:
                if check_name in selected:
                    quality_results[check_name] = run_quality_check(
                        session, check_name, days[0], days[-1], account=account
                    )
            if judged:
                # The recent-days table of the first day shows the days before it too.
                shown = days[0] - timedelta(days=judged.recent_days - 1)
                spikes = find_failure_spikes_by_day(
                    session, shown, days[-1], judged.config, account=account
                )
                newest = _newest_day(session, account)
        targets = _targets(context.instance, asset.key, keys)
        breaker = SpikeBreaker(warehouse, account) if judged and judged.circuit_breaker else None
        assets_def = context.op_execution_context.assets_def

        def recorded(
            spec: dg.AssetCheckSpec, key: str, result: dg.AssetCheckResult
        ) -> dg.AssetCheckEvaluation:
            return dg.AssetCheckEvaluation(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=result.passed,
                metadata=result.metadata,
                target_materialization_data=targets.get(key),
                severity=result.severity,
                description=result.description,
                blocking=spec.blocking,
                partition=key,
            )

        for spec in specs:
            if spec.name not in selected:
                continue
            for key, day in zip(keys, days, strict=True):
                if spec.name == FAILURE_SPIKE_CHECK and judged:
                    result = _judge_spike(day, spikes, newest, judged, breaker)
                else:
                    result = _quality_result(quality_results[spec.name][day])
                yield recorded(spec, key, result)
            yield dg.Output(
                None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key)
            )

    return archive_checks


def build_archive_checks(
    *,
    asset: dg.AssetsDefinition,
    config: SpikeConfig | None = None,
    recent_days: int = DEFAULT_RECENT_DAYS,
    blocking: bool = False,
    circuit_breaker: bool = True,
    breaker_days: int = DEFAULT_BREAKER_DAYS,
    account: str | None = None,
) -> dg.AssetChecksDefinition:
    """Every check on ``asset`` (``archive_messages``) in one step, ``<asset>_checks``:
    ``failure_rate_spike`` (:func:`build_failure_spike_check`, whose arguments these are) and
    the data-quality checks (:func:`build_data_quality_checks`).

    One step for all the days of a run: a ranged run (``dagster asset materialize
    --partition-range``, a single-run backfill, a batch of the checks sensor) starts one step
    process, not five, and each check reads all its days in one query, however many days.
    Still one result per check and day, recorded as an evaluation of that day's partition.

    Example:
        .. code-block:: python

            archive = build_archive_messages_asset(start_date="2024-01-01")
            defs = dg.Definitions(
                assets=[archive], asset_checks=[build_archive_checks(asset=archive)],
                resources=...,
            )
    """
    spike = _SpikeOptions.of(asset, config, recent_days, blocking, circuit_breaker, breaker_days)
    return _build_checks(
        asset,
        name=f"{asset.key.to_python_identifier()}_checks",
        quality=QUALITY_CHECKS,
        spike=spike,
        description=(
            f"The checks of `{asset.key.to_user_string()}` for every day of the run (failure-rate "
            "spike, data quality), each reading all the days in one query."
        ),
        account=account,
    )


def build_failure_spike_check(
    *,
    asset: dg.AssetsDefinition,
    config: SpikeConfig | None = None,
    recent_days: int = DEFAULT_RECENT_DAYS,
    blocking: bool = False,
    circuit_breaker: bool = True,
    breaker_days: int = DEFAULT_BREAKER_DAYS,
    account: str | None = None,
) -> dg.AssetChecksDefinition:
    """The partitioned check ``failure_rate_spike`` on ``asset`` (``archive_messages``), alone in
    its step (:func:`build_archive_checks` puts it in one step with the data-quality checks).

    The check of a partition (a day) calls `find_failure_spikes` on the ``warehouse``
    resource's file: it fails with severity ``ERROR`` when a segment is an ``ERROR``, with
    ``WARN`` when the worst is a ``WARN``, and passes otherwise (insufficient data passes).
    A run over several days judges them all from one read of the daily counts
    (`find_failure_spikes_by_day`). With ``circuit_breaker``, an ``ERROR`` on one of the last
    ``breaker_days`` days stored (up to the newest day in ``smspresto.messages``) trips the
    circuit breaker for that day (every campaign pauses, see
    `smspresto_pipeline.sending.breaker`) and a pass ends that day's trip, day by day in day
    order; a ``WARN`` leaves it as it is, and so does an ``ERROR`` on an older day: a spike
    found in history (a backfill checked, the checks sensor's first ticks) says nothing of
    today's deliveries and must not pause today's campaigns.

    Metadata: ``reason`` (the worst segment's sentence), ``failure_rate`` and
    ``failure_rate_interval`` (the account's rate and its 95 % Wilson interval),
    ``baseline_rate`` and ``baseline_band``, ``final_messages``, ``failed``, ``p_value``,
    ``flagged_segments``, ``worst_segments`` (a Markdown table), ``recent_days`` (a table of
    the account's last ``recent_days`` days: rate, baseline, band, severity) and, with
    ``circuit_breaker``, ``circuit_breaker`` (whether campaigns are paused, and why).

    Args:
        asset: the partitioned ``archive_messages`` asset the check is attached to.
        config: thresholds (`SpikeConfig`'s defaults if None).
        recent_days: days shown in ``recent_days``.
        blocking: make the check blocking (an ``ERROR`` stops downstream assets of the run).
        circuit_breaker: let the check's outcome trip and clear the circuit breaker.
        breaker_days: how recent (in days stored, the newest included) a day's ``ERROR`` must
            be to trip the breaker.
        account: the account whose rows the check reads (every account's together when None);
            a named account's check trips the breaker as ``<account>__failure_rate_spike``.

    Example:
        .. code-block:: python

            archive = build_archive_messages_asset(start_date="2024-01-01")
            check = build_failure_spike_check(asset=archive)
            defs = dg.Definitions(assets=[archive], asset_checks=[check], resources=...)
    """
    spike = _SpikeOptions.of(asset, config, recent_days, blocking, circuit_breaker, breaker_days)
    return _build_checks(
        asset,
        name=spike.spec(asset).get_python_identifier(),
        quality=(),
        spike=spike,
        description=spike.description,
        account=account,
    )


def _newest_day(session: Session, account: str | None) -> date | None:
    """The newest day of ``account`` in ``smspresto.messages`` (None while it has none)."""
    row = session.fetch_one("checks/select_newest_day.sql", {"account": account})
    return None if row is None else row[0]


def build_data_quality_checks(
    *, asset: dg.AssetsDefinition, account: str | None = None
) -> list[dg.AssetChecksDefinition]:
    """The partitioned data-quality checks on ``asset`` (``archive_messages``), one check per
    rule, all in one step (``<asset>_data_quality``; :func:`build_archive_checks` adds the
    spike check to it).

    ``history_id_unique``, ``required_fields_present`` and ``sent_not_before_created`` fail at
    ``ERROR``; ``statuses_mapped`` at ``WARN`` (unknown codes are kept and counted). Each check's
    metadata: ``failing_rows`` and the offending rows by kind (by status code for
    ``statuses_mapped``). Each reads all the days of its run in one query, of ``account``'s
    rows (every account's when None). Resource: ``warehouse``.
    """
    return [
        _build_checks(
            asset,
            name=f"{asset.key.to_python_identifier()}_data_quality",
            quality=QUALITY_CHECKS,
            spike=None,
            description=f"Data quality of `{asset.key.to_user_string()}`, day by day.",
            account=account,
        )
    ]


def _metadata_value(value: object) -> dg.MetadataValue:
    """A plain value as Dagster metadata: lists as JSON, None as null."""
    if value is None:
        return dg.MetadataValue.null()
    if isinstance(value, bool | str):
        return dg.MetadataValue.text(str(value))
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    return dg.MetadataValue.json(value)  # type: ignore[arg-type]  # the lists of day ranges


def build_counters_reconcile_check(
    *,
    snapshot: dg.AssetsDefinition,
    archive: dg.AssetsDefinition | dg.AssetKey | None = None,
    timezone: str = "Africa/Abidjan",
    tolerance: int = 10,
    tolerance_ratio: float = 0.001,
    account: str | None = None,
) -> dg.AssetChecksDefinition:
    """The check ``counters_reconcile`` on ``snapshot`` (``account_snapshot``), at ``WARN``.

    It compares the latest snapshot's ``success`` and ``failed`` counters with the archive's
    delivered and failed totals (:func:`~smspresto_pipeline.checks.counters.
    check_counters_reconcile`) and passes when days not stored, pending or unknown messages and
    rows written after the snapshot explain the gap, up to ``max(tolerance, tolerance_ratio *
    (success + failed))`` messages. Not partitioned: any job that materializes the snapshot
    with its checks (the hourly ``account_snapshot_job``) evaluates it. Metadata: the counters,
    the archive's totals, ``unexplained``, ``allowed``, ``snapshot_day`` (in ``timezone``),
    ``days_without_rows``, ``pending_days``, ``explanation``. Resource: ``warehouse``.

    Args:
        snapshot: the ``account_snapshot`` asset the check is attached to.
        archive: the archive asset (or its key) the check also reads, shown as its lineage.
        timezone: the account's time zone (the snapshot's day is named in it).
        tolerance: messages of unexplained gap allowed.
        tolerance_ratio: share of the counters' success + failed allowed, if larger.
        account: the account whose snapshot and archive are compared (every account's rows
            together when None: a warehouse of one account).
    """
    validate_tolerances(tolerance, tolerance_ratio)
    if account is not None:
        check_account(account)
    if snapshot.partitions_def is not None:
        raise ValueError(f"{snapshot.key.to_user_string()} is partitioned: expected the snapshot")
    archive_key = archive.key if isinstance(archive, dg.AssetsDefinition) else archive

    @dg.asset_check(
        asset=snapshot,
        name=COUNTERS_RECONCILE,
        additional_deps=[archive_key] if archive_key is not None else None,
        description=(
            "The latest snapshot's success and failed counters against the archive's delivered "
            "and failed totals: passes when days not stored, pending or unknown messages and "
            "later loads explain the gap (the metadata names them), plus a tolerance."
        ),
    )
    def counters_reconcile(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.get_warehouse().database.reading() as session:
            result = check_counters_reconcile(
                session,
                timezone=timezone,
                tolerance=tolerance,
                tolerance_ratio=tolerance_ratio,
                account=account,
            )
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=result.summary,
            metadata={name: _metadata_value(value) for name, value in result.metadata.items()},
        )

    return counters_reconcile


def _no_run_config(partition_key: str) -> dict[str, object]:
    return {}


def build_checks_job(
    *, asset: dg.AssetsDefinition, name: str = CHECKS_JOB
) -> "UnresolvedAssetJobDefinition":
    """A job that evaluates every check on ``asset`` for the days of its run, and materializes
    nothing.

    Partitioned like ``asset``: a run is one day (``partition_key`` of a ``RunRequest``, the
    launchpad's partition, ``dagster job backfill --partitions``) or a range of days (the
    ``dagster/asset_partition_range_start`` and ``_end`` tags, as the checks sensor asks for
    consecutive days). Its steps run in the run's process (the checks are short reads of the
    DuckDB file; with :func:`build_archive_checks`, one step).

    Example:
        .. code-block:: python

            archive = build_archive_messages_asset(start_date="2024-01-01")
            checks = [build_archive_checks(asset=archive)]
            defs = dg.Definitions(
                assets=[archive], asset_checks=checks, jobs=[build_checks_job(asset=archive)],
                resources=...,
            )
            defs.resolve_job_def("smspresto_archive_checks").execute_in_process(
                partition_key="2024-03-01"
            )
    """
    partitions = asset.partitions_def
    if partitions is None:
        raise ValueError(f"{asset.key.to_user_string()} is not partitioned: the checks are per day")
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.checks_for_assets(asset),
        # define_asset_job's partitions_def is dropped when the selection holds checks and no
        # asset (dagster 1.13 infers a job's partitions from its assets alone, see
        # _infer_and_validate_common_partitions_def): a partitioned config carries them instead.
        config=dg.PartitionedConfig(
            partitions_def=partitions, run_config_for_partition_key_fn=_no_run_config
        ),
        executor_def=dg.in_process_executor,
        description=(
            f"Evaluate the checks of `{asset.key.to_user_string()}` for a day or a range of days "
            "(failure-rate spike, data quality); launched by the sensor after materializations."
        ),
    )


def _checked_in_run(
    instance: dg.DagsterInstance, run_id: str, check_names: frozenset[str]
) -> set[str]:
    """The partitions for which run ``run_id`` evaluated every check in ``check_names``."""
    evaluated: dict[str, set[str]] = {}
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        event = record.dagster_event
        data = event.event_specific_data if event is not None else None
        if isinstance(data, dg.AssetCheckEvaluation) and data.partition is not None:
            evaluated.setdefault(data.partition, set()).add(data.check_name)
    return {partition for partition, names in evaluated.items() if check_names <= names}


def _first_tick(
    instance: dg.DagsterInstance, key: dg.AssetKey, days: int
) -> tuple[Sequence[dg.EventLogRecord], int | None, bool]:
    """What the first tick reads: the latest materialization of each of the ``days`` newest
    days materialized, the newest storage id of any day (the cursor after it; None when
    nothing was materialized), and whether older days were left out.

    Days, not materializations: a backfill run again or the lookback re-reading days records
    older days after the newest ones, and a range of storage ids would bring them all back.
    """
    latest = instance.get_latest_storage_id_by_partition(
        key, DagsterEventType.ASSET_MATERIALIZATION
    )
    if not latest:
        return [], None, False
    # Daily keys are ISO dates: sorted as text, they are sorted as days.
    newest = sorted(latest)[-days:]
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, storage_ids=[latest[day] for day in newest]),
        limit=len(newest),
        ascending=True,
    ).records
    return records, max(latest.values()), len(latest) > len(newest)


def _stretches(days: Sequence[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """``days`` (sorted ``(day, storage id)``) cut into runs of consecutive days."""
    stretches: list[list[tuple[str, int]]] = []
    for day, storage_id in days:
        after = stretches and date.fromisoformat(stretches[-1][-1][0]) + timedelta(days=1)
        if after == date.fromisoformat(day):
            stretches[-1].append((day, storage_id))
        else:
            stretches.append([(day, storage_id)])
    return stretches


def _run_request(stretch: Sequence[tuple[str, int]]) -> dg.RunRequest:
    """The checks run of consecutive days: a run of the day, or of their range."""
    (first, _), (last, _) = stretch[0], stretch[-1]
    newest = max(storage_id for _, storage_id in stretch)
    if first == last:
        return dg.RunRequest(run_key=f"{first}@{newest}", partition_key=first)
    return dg.RunRequest(
        run_key=f"{first}...{last}@{newest}",
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )


def build_checks_sensor(
    *,
    asset: dg.AssetsDefinition,
    job_name: str,
    check_names: Sequence[str],
    name: str = CHECKS_SENSOR,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds: int = 30,
    batch: int = 500,
    first_tick_days: int = 14,
) -> dg.SensorDefinition:
    """A sensor that requests runs of the job ``job_name`` (the checks) for the days of
    ``asset`` materialized: one run per stretch of consecutive days.

    Each tick reads the materializations recorded since its cursor (a storage id) and keeps
    the newest per day. Consecutive days go in one run over their range (the checks of a run
    evaluate all its days in one step, each check in one query), with ``run_key``
    ``<first>...<last>@<newest storage id>`` (a lone day: a run of that day, ``<day>@<storage
    id>``): a tick evaluated again (its cursor not moved) requests the same keys, which Dagster
    never launches twice, and a day materialized again later (the daily ingest re-reads the
    last days for late statuses) gets a new key, so it is checked again. A day whose
    materializing run already evaluated every check in ``check_names`` for it (a run of the
    asset with its checks) is not requested again. ``batch`` records are read a tick.

    The first tick (no cursor yet: a new deployment, a reset) requests the ``first_tick_days``
    newest days materialized, each at its latest materialization, however often older days
    were materialized again since (a backfill run twice), and moves its cursor past every
    materialization recorded: the history ingested before the sensor was switched on is not
    checked unless asked, by launching the checks job for those days.

    Args:
        asset: the partitioned asset (``archive_messages``).
        job_name: the checks-only job (:func:`build_checks_job`), in the same definitions.
        check_names: the checks that job evaluates.
        name: the sensor's name.
        default_status: the sensor's status when first deployed.
        minimum_interval_seconds: seconds between ticks.
        batch: materializations read per tick at most.
        first_tick_days: the newest days the first tick checks.
    """
    if asset.partitions_def is None:
        raise ValueError(f"{asset.key.to_user_string()} is not partitioned: the checks are per day")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if first_tick_days < 1:
        raise ValueError(f"first_tick_days must be at least 1, got {first_tick_days}")
    key = asset.key
    expected = frozenset(check_names)

    @dg.sensor(
        name=name,
        job_name=job_name,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description=(
            f"Launch `{job_name}` for the days of `{key.to_user_string()}` materialized (one "
            "run per stretch of consecutive days, again when a day is materialized again)."
        ),
    )
    def checks_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        records: Sequence[dg.EventLogRecord]
        cursor: int | None
        if context.cursor:
            records = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, after_storage_id=int(context.cursor)),
                limit=batch,
                ascending=True,
            ).records
            cursor = records[-1].storage_id if records else None
        else:
            records, cursor, older = _first_tick(context.instance, key, first_tick_days)
            if older:
                context.log.info(
                    f"first tick: the days of {key.to_user_string()} materialized before the "
                    f"{first_tick_days} newest are not checked; launch {job_name} for those "
                    "days to check them"
                )
        if not records:
            return dg.SensorResult(
                skip_reason=f"no materialization of {key.to_user_string()} since the last tick"
            )
        newest = {r.partition_key: r for r in records if r.partition_key is not None}
        checked: dict[str, set[str]] = {}
        due = []
        for day, record in sorted(newest.items()):
            run_id = record.run_id
            if run_id not in checked:
                checked[run_id] = _checked_in_run(context.instance, run_id, expected)
            if day not in checked[run_id]:
                due.append((day, record.storage_id))
        requests = [_run_request(stretch) for stretch in _stretches(due)]
        return dg.SensorResult(
            run_requests=requests,
            cursor=str(cursor),
            skip_reason=None
            if requests
            else "the runs that materialized these days evaluated their checks",
        )

    return checks_sensor
