"""Failure-rate spikes judged with the day's volume: pure statistics, no Dagster.

The usual checks (a z-score on daily rates, fixed bounds) judge a 50-message day and a
100,000-message day alike. Here each segment of a day (the account, each sender, each
carrier) is tested on its own counts:

1. **Baseline.** The segment's final messages (delivered or failed; pending and unknown are
   left out) and failures over the trailing ``baseline_days`` (default 28), optionally scaled
   by the segment's weekday factor. Days already flagged (the same check walked forward over
   the history) do not lift it: they enter with their failures cut to the top of the band
   they broke. Dropping them outright would trim only the high days, make the spread look
   narrower, and flag the next ordinary high day in turn (on the benchmark's tuning seed it
   gave 31 false ``ERROR``s in 299 clean days instead of 12, before the dispersion bound).
2. **Over-dispersion.** A real daily failure rate moves from day to day beyond binomial noise.
   The segment's intra-day correlation ``rho`` is estimated by the method of moments from its
   trailing daily rates (beta-binomial: ``Var(failures) = n p (1 - p) (1 + (n - 1) rho)``), so
   a big segment whose rate wobbles is not called a spike for wobbling.
3. **Shrinkage.** A sender's or carrier's baseline rate is shrunk toward the account's, with a
   strength estimated from how far the segments of that kind spread apart (beta-binomial
   empirical Bayes): a small or new segment borrows the account's rate and its uncertainty
   instead of alarming on a cold start.
4. **Test.** The day's failures are compared with the beta-binomial predictive distribution
   for the day's volume (baseline uncertainty plus day-to-day spread): one-sided p-value.
5. **Verdict.** A spike needs a practical rise too (default +2 points and 1.5x the baseline).
   ``ERROR``: p < 0.001 and the rise. ``WARN``: significant under Benjamini-Hochberg at
   q = 0.05 across the day's segments, and the rise. Days under 50 final messages or 5
   failures pass as "insufficient data".

Example:
    >>> import duckdb, datetime
    >>> con = duckdb.connect("data/smspresto_warehouse.duckdb", read_only=True)  # doctest: +SKIP
    >>> for f in find_failure_spikes(con, datetime.date(2025, 2, 12)):  # doctest: +SKIP
    ...     if f.severity:
    ...         print(f.severity, f.reason)
    ERROR carrier:MTN failures jumped from 5.7% to 23.1% (117 messages, p=6e-4)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, time, timedelta
from statistics import NormalDist
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from smspresto_pipeline.checks.reading import Source, fetch_all, reader
from smspresto_pipeline.wording import plural

__all__ = [
    "DailyCounts",
    "Severity",
    "SpikeConfig",
    "SpikeFinding",
    "assess_history",
    "beta_binomial_sf",
    "find_failure_spikes",
    "find_failure_spikes_by_day",
    "format_p_value",
    "load_counts_before",
    "load_daily_counts",
    "wilson_interval",
    "worst_severity",
]

Severity = Literal["WARN", "ERROR"]
_Number = TypeVar("_Number", int, float)

#: Per segment (``all``, ``sender:<name>``, ``carrier:<name>``), per day: (final, failed).
DailyCounts = Mapping[str, Mapping[date, tuple[int, int]]]

_ALL = "all"
_Z95 = 1.959963984540054
# A tail sum stops once a term adds less than this share of the sum so far.
_TAIL_PRECISION = 1e-13
# The most a baseline's concentration (alpha + beta) may be: past it, the beta-binomial is a
# binomial for any day's volume, and the gamma functions lose precision.
_MAX_CONCENTRATION = 1e9
# Below the mean, p-values of distributions wider than this (in variance) are approximated.
_EXACT_BELOW_MEAN_UP_TO_VARIANCE = 2500.0


# The thresholds' bounds (low, high; None: no upper bound), both included.
_BOUNDS: dict[str, tuple[float, float | None]] = {
    "baseline_days": (2, 366),
    "min_baseline_days": (2, 366),
    "min_messages": (1, None),
    "min_failures": (0, None),
    "seasonality_prior": (0, None),
    "min_rise": (0, 1),
    "min_ratio": (1, None),
}


class SpikeConfig(BaseModel):
    """The thresholds of `find_failure_spikes`; the defaults are the documented ones.

    The one definition of each threshold, its default, its bounds and its description: the
    ingest component's ``failure_spikes:`` block is this model (``dg`` shows the descriptions),
    and a bad value fails construction with a ``pydantic.ValidationError`` (a ``ValueError``)
    naming the field.

    Example:
        >>> SpikeConfig(baseline_days=14, weekday_seasonality=True).min_ratio
        1.5
    """

    # The fields' types stay plain (bounds are checked by the validators below, from _BOUNDS,
    # not with Field(ge=...)): Dagster resolves a pydantic model given as a component attribute
    # only when every field's type is a plain one.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    baseline_days: int = Field(
        default=28,
        description="Trailing days the baseline is drawn from (2 to 366); days already flagged "
        "enter capped at the top of the band they broke.",
    )
    weekday_seasonality: bool = Field(
        default=False,
        description="Scale the baseline by the segment's weekday factor (from the baseline's "
        "own same-weekday days, shrunk toward 1 by seasonality_prior).",
    )
    seasonality_prior: float = Field(
        default=2000.0,
        description="Pseudo-messages at the segment's overall rate the weekday factor starts "
        "from (0 or more).",
    )
    min_messages: int = Field(
        default=50,
        description="Fewer final messages (delivered + failed) on the day: 'insufficient "
        "data', never flagged (1 or more).",
    )
    min_failures: int = Field(
        default=5,
        description="Fewer failures on the day: 'insufficient data', never flagged (0 or more).",
    )
    min_baseline_days: int = Field(
        default=7,
        description="Days of history the account needs before anything is tested (2 to "
        "baseline_days).",
    )
    min_rise: float = Field(
        default=0.02,
        description="The least rise over the baseline rate that counts as a spike (0.02: 2 "
        "points; 0 to 1).",
    )
    min_ratio: float = Field(
        default=1.5,
        description="The least ratio to the baseline rate that counts as a spike (1 or more).",
    )
    warn_q: float = Field(
        default=0.05,
        description="Benjamini-Hochberg false discovery rate of WARN across a day's segments "
        "(between 0 and 1).",
    )
    error_p: float = Field(
        default=0.001,
        description="The p-value under which a spike (with the practical rise) is an ERROR, "
        "which pauses the campaigns (between 0 and 1).",
    )
    dispersion_confidence: float = Field(
        default=0.9,
        description="The day-to-day spread is taken at this upper confidence bound of its "
        "estimate from the baseline days (0.5: the estimate itself; at least 0, below 1).",
    )

    @field_validator("min_baseline_days")
    @classmethod
    def _check_min_baseline_days(cls, value: int, info: ValidationInfo) -> int:
        # Fields are validated in their order: baseline_days is known here unless it was bad.
        baseline_days = info.data.get("baseline_days")
        if baseline_days is not None and value > baseline_days:
            raise ValueError(
                f"min_baseline_days ({value}) must not exceed baseline_days ({baseline_days})"
            )
        return value

    @field_validator(*_BOUNDS)
    @classmethod
    def _check_bounds(cls, value: float, info: ValidationInfo) -> float:
        low, high = _BOUNDS[str(info.field_name)]
        return _within(str(info.field_name), value, low, high)

    @field_validator("warn_q", "error_p")
    @classmethod
    def _check_probability(cls, value: float, info: ValidationInfo) -> float:
        if not 0 < value < 1:
            raise ValueError(
                f"{info.field_name} must be between 0 and 1 (both excluded), got {value}"
            )
        return value

    @field_validator("dispersion_confidence")
    @classmethod
    def _check_dispersion_confidence(cls, value: float) -> float:
        if not 0 <= value < 1:
            raise ValueError(f"dispersion_confidence must be at least 0 and below 1, got {value}")
        return value


def _within(name: str, value: _Number, low: float, high: float | None) -> _Number:
    # `not low <= value` also refuses NaN.
    if not low <= value or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"{low:g} or more"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class SpikeFinding:
    """The verdict on one segment of one day.

    Attributes:
        segment: ``all``, ``sender:<name>`` or ``carrier:<name>``.
        day: the archive day (``partition_date``).
        messages: final messages of the day (delivered + failed).
        failed: failed messages of the day.
        rate: ``failed / messages`` (``None`` without final messages).
        rate_low, rate_high: the rate's 95 % Wilson interval (``None`` without final messages).
        baseline_rate: the expected rate (shrunk, weekday-scaled); ``None`` without baseline.
        baseline_low, baseline_high: where 95 % of days of this volume fall under the baseline
            (the predictive band, over-dispersion included); ``None`` without baseline.
        baseline_days: days the baseline was drawn from.
        p_value: one-sided p-value of the day's failures; ``None`` when not tested.
        severity: ``WARN``, ``ERROR``, or ``None`` when the segment passes.
        reason: one sentence for people, e.g. "carrier:MTN failures jumped from 3.0% to 21.0%
            (1,234 messages, p=2e-9)".
    """

    segment: str
    day: date
    messages: int
    failed: int
    rate: float | None
    rate_low: float | None
    rate_high: float | None
    baseline_rate: float | None
    baseline_low: float | None
    baseline_high: float | None
    baseline_days: int
    p_value: float | None
    severity: Severity | None
    reason: str


def worst_severity(findings: Iterable[SpikeFinding]) -> Severity | None:
    """``ERROR`` if a segment is one, else ``WARN`` if one is, else None (all pass)."""
    severities = {f.severity for f in findings}
    return "ERROR" if "ERROR" in severities else ("WARN" if "WARN" in severities else None)


def wilson_interval(failed: int, messages: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of ``failed / messages`` (95 % by default).

    Example:
        >>> [round(v, 4) for v in wilson_interval(5, 100)]
        [0.0215, 0.1118]
    """
    if messages <= 0:
        raise ValueError(f"messages must be positive, got {messages}")
    p = failed / messages
    z2 = z * z
    centre = (p + z2 / (2 * messages)) / (1 + z2 / messages)
    half = z * math.sqrt(p * (1 - p) / messages + z2 / (4 * messages * messages))
    half /= 1 + z2 / messages
    return max(0.0, centre - half), min(1.0, centre + half)


def _log_pmf(k: int, n: int, a: float, b: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + math.lgamma(k + a)
        + math.lgamma(n - k + b)
        - math.lgamma(n + a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + math.lgamma(a + b)
    )


def _tail(k: int, n: int, a: float, b: float, step: int) -> float:
    """``sum(pmf(j))`` for j from ``k`` going up (``step`` 1) or down (``step`` -1) to the end.

    Terms come from their ratios, so one ``lgamma`` set is computed however long the tail; the
    sum stops once the terms (decreasing away from the mode) no longer count.
    """
    log_first = _log_pmf(k, n, a, b)
    total, term, j = 1.0, 1.0, k
    while 0 <= j + step <= n:
        if step > 0:
            term *= (n - j) / (j + 1) * (j + a) / (n - j - 1 + b)
        else:
            term *= j / (n - j + 1) * (n - j + b) / (j - 1 + a)
        j += step
        total += term
        if term < _TAIL_PRECISION * total:
            break
    return math.exp(log_first + math.log(total)) if log_first > -745 else 0.0


def beta_binomial_sf(k: int, n: int, a: float, b: float) -> float:
    """``P(X >= k)`` for ``X ~ BetaBinomial(n, a, b)``, by summing the smaller side (below the
    mean of a wide distribution, where it is above about one half, by a normal approximation).

    Example:
        >>> round(beta_binomial_sf(3, 10, 1.0, 1.0), 4)  # uniform on 0..10
        0.7273
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    mean = n * a / (a + b)
    if k >= mean:
        # Above the mean the upper tail falls away: sum it directly.
        return min(1.0, _tail(k, n, a, b, 1))
    variance = mean * (b / (a + b)) * (a + b + n) / (a + b + 1)
    if variance > _EXACT_BELOW_MEAN_UP_TO_VARIANCE:
        # At or below the mean the p-value is about one half or more and decides nothing, and
        # the exact sum would walk the whole bulk (tens of thousands of terms on a big day):
        # the normal approximation, with continuity correction, is enough.
        return 1.0 - NormalDist(mean, math.sqrt(variance)).cdf(k - 0.5)
    return max(0.0, 1.0 - _tail(k - 1, n, a, b, -1))


def format_p_value(p: float) -> str:
    """A p-value as people read it: ``0.43``, ``0.004``, ``2e-9``, ``<1e-300``."""
    if p <= 0:
        return "<1e-300"
    if p >= 0.001:
        return f"{p:.2g}"
    mantissa, exponent = f"{p:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _chi2_ratio(freedom: int, confidence: float) -> float:
    """``freedom / chi2_quantile(freedom, 1 - confidence)``: what a variance estimated from
    ``freedom`` degrees of freedom is multiplied by to reach its upper confidence bound
    (Wilson-Hilferty approximation of the chi-square quantile)."""
    if confidence <= 0.5:
        return 1.0
    z = NormalDist().inv_cdf(1 - confidence)
    c = 2 / (9 * freedom)
    quantile = freedom * max(1 - c + z * math.sqrt(c), 0.05) ** 3
    return freedom / quantile


def _rho(days: Sequence[tuple[int, int]], confidence: float = 0.5) -> float | None:
    """Intra-day correlation of failures (beta-binomial over-dispersion), method of moments.

    With weights ``n_i`` and ``p`` the pooled rate, ``E[sum n_i (r_i - p)^2] = p (1 - p)
    sum (1 + (n_i - 1) rho) (1 - n_i / N)``; solved for ``rho`` and kept within [0, 1).
    A few weeks of days estimate the spread loosely: above ``confidence`` 0.5, the spread is
    taken at that upper confidence bound (chi-square), so that a calm month does not make
    the next ordinary wobble look like a spike. ``None`` when the days cannot tell (fewer
    than two, or no variation possible).
    """
    days = [(n, x) for n, x in days if n > 0]
    total = sum(n for n, _ in days)
    failed = sum(x for _, x in days)
    if len(days) < 2 or not 0 < failed < total:
        return None
    p = failed / total
    spread = sum(n * (x / n - p) ** 2 for n, x in days) * _chi2_ratio(len(days) - 1, confidence)
    denominator = sum((n - 1) * (1 - n / total) for n, _ in days)
    if denominator <= 0:
        return None
    rho = (spread / (p * (1 - p)) - (len(days) - 1)) / denominator
    return min(max(rho, 0.0), 0.99)


@dataclasses.dataclass(frozen=True, slots=True)
class _Baseline:
    days: int
    messages: int
    failed: int
    rho: float | None
    weekday_factor: float
    mean_day: float  # messages-weighted mean day size, sum(n^2) / sum(n)

    @property
    def effective_messages(self) -> float:
        """Messages worth of independent evidence (the design effect of over-dispersion)."""
        return self.messages / (1 + (self.mean_day - 1) * (self.rho or 0.0)) if self.days else 0.0


def _baseline(
    counts: Mapping[date, tuple[int, int]],
    day: date,
    flagged: Mapping[date, float],
    config: SpikeConfig,
) -> _Baseline:
    """The segment's trailing days before ``day``; a day in ``flagged`` enters with its
    failures cut to the rate it is mapped to (the top of the band it broke)."""
    window = []
    for t in (day - timedelta(days=i) for i in range(1, config.baseline_days + 1)):
        n, x = counts.get(t, (0, 0))
        if n <= 0:
            continue
        if t in flagged:
            x = min(x, round(flagged[t] * n))
        window.append((t, (n, x)))
    messages = sum(n for _, (n, _) in window)
    failed = sum(x for _, (_, x) in window)
    factor = 1.0
    if config.weekday_seasonality and messages and failed:
        overall = failed / messages
        same = [(n, x) for t, (n, x) in window if t.weekday() == day.weekday()]
        prior = config.seasonality_prior
        same_n = sum(n for n, _ in same)
        same_x = sum(x for _, x in same)
        factor = (same_x + prior * overall) / ((same_n + prior) * overall)
    return _Baseline(
        days=len(window),
        messages=messages,
        failed=failed,
        rho=_rho([c for _, c in window], config.dispersion_confidence),
        weekday_factor=factor,
        mean_day=(sum(n * n for _, (n, _) in window) / messages) if messages else 0.0,
    )


def _between_concentration(baselines: Iterable[_Baseline]) -> float:
    """How strongly segments of one kind are drawn to the account's rate: ``alpha + beta`` of
    the beta distribution their long-run rates spread by (method of moments across segments).
    """
    rho = _rho([(b.messages, b.failed) for b in baselines])
    if rho is None or rho <= 0:
        return _MAX_CONCENTRATION
    return min(_MAX_CONCENTRATION, max(1.0, 1 / rho - 1))


@dataclasses.dataclass(frozen=True, slots=True)
class _Prediction:
    rate: float
    concentration: float  # alpha + beta of the day's predictive beta distribution


def _predict(
    own: _Baseline, parent: _Prediction | None, parent_rho: float | None, strength: float
) -> _Prediction | None:
    """The day's expected rate and its spread, for the segment ``own``.

    ``parent`` is the account's prediction (``None`` for the account itself); ``strength`` the
    pseudo-messages at the parent's rate that the segment's own baseline is added to.
    """
    if parent is None:
        if own.messages == 0:
            return None
        # Half a failure and one message of prior keep a clean history from a zero rate.
        rate = (own.failed + 0.5) / (own.messages + 1)
        strength = 0.0
        rho = own.rho or 0.0
    else:
        rate = (own.failed + strength * parent.rate) / (own.messages + strength)
        # Few days say little about a segment's day-to-day spread: lean on the account's.
        weight = own.days if own.rho is not None else 0
        prior_days = 7
        rho = (weight * (own.rho or 0.0) + prior_days * (parent_rho or 0.0)) / (weight + prior_days)
    rate = min(max(rate * own.weekday_factor, 1e-6), 1 - 1e-6)
    # The day's rate varies by the segment's own spread (rho) and by what is not known of the
    # segment's long-run rate (a posterior worth strength + effective messages).
    spread = rho + 1 / (strength + own.effective_messages + 1)
    concentration = min(_MAX_CONCENTRATION, max(0.05, 1 / spread - 1))
    return _Prediction(rate=rate, concentration=concentration)


def _band(prediction: _Prediction, messages: int) -> tuple[float, float]:
    """Where 95 % of days of ``messages`` fall under ``prediction`` (normal approximation of
    the beta-binomial rate: binomial plus the beta's spread)."""
    p, c = prediction.rate, prediction.concentration
    sd = math.sqrt(p * (1 - p) * (1 / messages + (1 - 1 / messages) / (c + 1)))
    return max(0.0, p - _Z95 * sd), min(1.0, p + _Z95 * sd)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _benjamini_hochberg(p_values: Mapping[str, float], q: float) -> set[str]:
    """The segments whose p-values Benjamini-Hochberg rejects at false discovery rate ``q``."""
    ranked = sorted(p_values.items(), key=lambda item: item[1])
    m = len(ranked)
    cut = 0
    for rank, (_, p) in enumerate(ranked, start=1):
        if p <= q * rank / m:
            cut = rank
    return {segment for segment, _ in ranked[:cut]}


def _assess_day(
    counts: DailyCounts,
    day: date,
    flagged: Mapping[str, Mapping[date, float]],
    config: SpikeConfig,
) -> list[SpikeFinding]:
    """Every segment present on ``day``, judged against its baseline (see the module)."""
    segments = sorted(
        (s for s, by_day in counts.items() if day in by_day),
        key=lambda s: (s != _ALL, s),
    )
    if not segments:
        return []
    baselines = {
        s: _baseline(by_day, day, flagged.get(s, {}), config) for s, by_day in counts.items()
    }
    account = baselines.get(_ALL)
    parent = None
    if account is not None and account.days >= config.min_baseline_days:
        parent = _predict(account, None, None, 0.0)
    strengths = {
        kind: _between_concentration(
            b for s, b in baselines.items() if s.startswith(kind) and b.messages
        )
        for kind in ("sender:", "carrier:")
    }
    drafts: list[tuple[str, int, int, _Prediction | None, float | None, bool, int]] = []
    for segment in segments:
        messages, failed = counts[segment][day]
        if parent is None:
            prediction = None
        elif segment == _ALL:
            prediction = parent
        else:
            kind = segment.split(":", 1)[0] + ":"
            prediction = _predict(
                baselines[segment], parent, account.rho if account else None, strengths[kind]
            )
        enough = messages >= config.min_messages and failed >= config.min_failures
        p_value = None
        if prediction is not None and enough:
            a = prediction.concentration * prediction.rate
            b = prediction.concentration * (1 - prediction.rate)
            p_value = beta_binomial_sf(failed, messages, a, b)
        drafts.append(
            (segment, messages, failed, prediction, p_value, enough, baselines[segment].days)
        )

    discoveries = _benjamini_hochberg(
        {d[0]: d[4] for d in drafts if d[4] is not None}, config.warn_q
    )
    findings = []
    for segment, messages, failed, prediction, p_value, enough, baseline_days in drafts:
        rate = failed / messages if messages else None
        low, high = wilson_interval(failed, messages) if messages else (None, None)
        severity: Severity | None = None
        base_rate = prediction.rate if prediction else None
        band = _band(prediction, messages) if prediction and messages else (None, None)
        volume = plural(messages, "message")
        if not enough:
            reason = (
                f"{segment}: insufficient data ({volume}, {failed:,} failed; "
                f"needs {config.min_messages} and {config.min_failures})"
            )
        elif prediction is None or p_value is None or rate is None or base_rate is None:
            reason = (
                f"{segment}: no baseline yet ({plural(account.days if account else 0, 'day')} "
                "of history;"
                f" needs {config.min_baseline_days})"
            )
        else:
            practical = rate >= base_rate + config.min_rise and rate >= config.min_ratio * base_rate
            if practical and p_value < config.error_p:
                severity = "ERROR"
            elif practical and segment in discoveries:
                severity = "WARN"
            p_text = format_p_value(p_value)
            if severity:
                reason = (
                    f"{segment} failures jumped from {_percent(base_rate)} to "
                    f"{_percent(rate)} ({volume}, p={p_text})"
                )
            else:
                reason = (
                    f"{segment} failures at {_percent(rate)} against a baseline of "
                    f"{_percent(base_rate)} ({volume}, p={p_text})"
                )
                if not practical and (p_value < config.error_p or segment in discoveries):
                    reason += (
                        f": significant, but under the practical floor (+"
                        f"{100 * config.min_rise:g} points and {config.min_ratio:g}x)"
                    )
        findings.append(
            SpikeFinding(
                segment=segment,
                day=day,
                messages=messages,
                failed=failed,
                rate=rate,
                rate_low=low,
                rate_high=high,
                baseline_rate=base_rate,
                baseline_low=band[0],
                baseline_high=band[1],
                baseline_days=baseline_days,
                p_value=p_value,
                severity=severity,
                reason=reason,
            )
        )
    return findings


def assess_history(
    counts: DailyCounts, days: Sequence[date], config: SpikeConfig = SpikeConfig()
) -> dict[date, list[SpikeFinding]]:
    """Judge each of ``days`` (in order), leaving the days already flagged out of the later
    baselines, as the check does when it runs every day.

    ``counts`` holds, per segment, ``(final, failed)`` per day; days before the first of
    ``days`` count as clean history. `find_failure_spikes` is this over the days a baseline
    can reach, and the benchmark replays a year with it.
    """
    flagged: dict[str, dict[date, float]] = {}
    results: dict[date, list[SpikeFinding]] = {}
    for day in sorted(days):
        findings = _assess_day(counts, day, flagged, config)
        for finding in findings:
            if finding.severity is not None and finding.baseline_high is not None:
                flagged.setdefault(finding.segment, {})[day] = finding.baseline_high
        results[day] = findings
    return results


def load_daily_counts(
    con: Source, first: date, last: date, account: str | None = None
) -> dict[str, dict[date, tuple[int, int]]]:
    """Per segment, ``(final, failed)`` per day from ``smspresto.messages``, days inclusive, of
    ``account`` (of every account when None)."""
    return load_counts_before(con, first, last, None, account)[0]


def load_counts_before(
    con: Source, first: date, last: date, cutoff: time | None, account: str | None = None
) -> tuple[dict[str, dict[date, tuple[int, int]]], dict[str, dict[date, int]]]:
    """Per segment and day from ``first`` to ``last``, the messages created before the time of
    day ``cutoff`` (the whole day when None): ``(final, failed)`` and, apart, the pending ones
    (of ``account``'s rows; of every account's when None)."""
    params = {"first": first, "last": last, "cutoff": cutoff, "account": account}
    with reader(con) as source:
        rows = fetch_all(source, "checks/select_failures_by_segment_before_time.sql", params)
    counts: dict[str, dict[date, tuple[int, int]]] = {}
    pending: dict[str, dict[date, int]] = {}
    for day, segment, final, failed, still in rows:
        counts.setdefault(segment, {})[day] = (int(final), int(failed))
        if still:
            pending.setdefault(segment, {})[day] = int(still)
    return counts, pending


def find_failure_spikes(
    con: Source, day: date, config: SpikeConfig = SpikeConfig(), *, account: str | None = None
) -> list[SpikeFinding]:
    """One finding per segment (``all``, each sender, each carrier) with messages on ``day``.

    Reads ``smspresto.messages`` through ``con``: a warehouse of either engine (a
    ``Warehouse``), a port session, or an engine's own connection (a DuckDB connection to any
    file, or what a PostgreSQL ``Warehouse.reading()`` hands out); ``account``'s rows (every
    account's together when None). It reads ``day`` and the
    ``2 * baseline_days`` before it, so that days flagged in the baseline are recognised (by
    walking the check forward over them) and left out. The account's finding comes first.

    Example:
        >>> findings = find_failure_spikes(con, date(2025, 2, 12))  # doctest: +SKIP
        >>> [f.reason for f in findings if f.severity == "ERROR"]  # doctest: +SKIP
        ['carrier:MTN failures jumped from 5.7% to 23.1% (117 messages, p=6e-4)']
    """
    return find_failure_spikes_by_day(con, day, day, config, account=account)[day]


def find_failure_spikes_by_day(
    con: Source,
    first: date,
    last: date,
    config: SpikeConfig = SpikeConfig(),
    *,
    account: str | None = None,
) -> dict[date, list[SpikeFinding]]:
    """`find_failure_spikes` of every day from ``first`` to ``last``, by day, from one read of
    the daily counts and one walk over them.

    The walk starts ``2 * baseline_days`` before ``first``, as `find_failure_spikes` does for
    ``first`` alone, and goes on day by day to ``last``: each day is judged as the check
    running every day judges it, with the days flagged before it (``first``'s warm-up
    included) left out of its baseline. A later day's walk thus starts earlier than its own
    ``2 * baseline_days``: the verdicts are the same unless a day flagged only in that longer
    walk sits in its baseline (a spike judged with more history, as the daily check has it).
    """
    if last < first:
        raise ValueError(f"last must not be before first, got {first} to {last}")
    start = first - timedelta(days=2 * config.baseline_days)
    counts = load_daily_counts(con, start, last, account)
    walk = [start + timedelta(days=i) for i in range((last - start).days + 1)]
    results = assess_history(counts, walk, config)
    return {day: findings for day, findings in results.items() if day >= first}
