"""The failure-spike statistics: on a real DuckDB file filled from the simulator over HTTP
(clean days, a carrier's spike, an account-wide spike, a small account), and on hand-made
daily counts for the cases a simulated history shows only by chance (over-dispersion, cold
start, Benjamini-Hochberg)."""

import ast
import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import CountingConnection
from pydantic import ValidationError

import smspresto_pipeline.checks.spikes as spikes_module
from smspresto_pipeline import SMSPrestoClient
from smspresto_pipeline.checks import (
    SpikeConfig,
    SpikeFinding,
    assess_history,
    find_failure_spikes,
    wilson_interval,
)
from smspresto_pipeline.checks.spikes import (
    DailyCounts,
    beta_binomial_sf,
    find_failure_spikes_by_day,
    format_p_value,
    load_daily_counts,
)
from smspresto_pipeline.simulator import SimulatorConfig, Spike, run_simulator
from smspresto_pipeline.sms.numbering import recipient_details
from smspresto_pipeline.warehouse import Warehouse

START = date(2025, 1, 13)
END = date(2025, 2, 16)
CARRIER_SPIKE = date(2025, 2, 12)  # a Wednesday: MTN's failure rate times 6
ACCOUNT_SPIKE = date(2025, 2, 14)  # a Friday: every message's failure rate times 4
CLEAN_DAYS = [date(2025, 2, 3) + timedelta(days=i) for i in range(9)]  # 3 to 11 February


def build_warehouse(
    directory: Path, messages_per_day: int, spikes: tuple[Spike, ...]
) -> tuple[Path, list[dict[str, str]]]:
    """A simulated account's history from START to END, read over HTTP into a DuckDB file;
    also the API's records, as read."""
    config = SimulatorConfig(
        db_path=directory / "simulator.sqlite3",
        history_start=START,
        history_end=END,
        messages_per_day=messages_per_day,
        spike_period=0,
        spikes=spikes,
    )
    path = directory / "warehouse.duckdb"
    records: list[dict[str, str]] = []
    with (
        run_simulator(config) as sim,
        SMSPrestoClient(sim.api_key, sim.api_pass, sim.base_url) as client,
    ):
        warehouse = Warehouse(path)
        day = START
        while day <= END:
            pages = list(client.iter_archive_pages(day, day))
            records.extend(dict(record.raw) for page in pages for record in page)
            warehouse.write_partition(day, pages)
            day += timedelta(days=1)
    return path, records


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    spikes = (Spike(CARRIER_SPIKE, "carrier:MTN", 6.0), Spike(ACCOUNT_SPIKE, "all", 4.0))
    return build_warehouse(tmp_path_factory.mktemp("spikes"), 500, spikes)


@pytest.fixture
def con(history: tuple[Path, list[dict[str, str]]]) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(history[0]), read_only=True) as connection:
        yield connection


def by_segment(findings: list[SpikeFinding]) -> dict[str, SpikeFinding]:
    return {finding.segment: finding for finding in findings}


# -- on a DuckDB file built from the simulator ------------------------------------------------


def test_a_clean_history_passes(con: duckdb.DuckDBPyConnection) -> None:
    for day in CLEAN_DAYS:
        findings = find_failure_spikes(con, day)
        assert findings[0].segment == "all"
        assert {"all", "carrier:Orange", "carrier:MTN", "carrier:Moov"} <= set(by_segment(findings))
        flagged = [f.reason for f in findings if f.severity is not None]
        assert flagged == [], (day, flagged)
        account = findings[0]
        assert account.p_value is not None
        assert account.baseline_rate is not None
        assert account.baseline_days >= 21


def test_a_carrier_spike_is_an_error_for_that_carrier_only(
    con: duckdb.DuckDBPyConnection,
) -> None:
    findings = by_segment(find_failure_spikes(con, CARRIER_SPIKE))
    mtn = findings["carrier:MTN"]
    assert mtn.severity == "ERROR", mtn.reason
    assert mtn.reason.startswith("carrier:MTN failures jumped from ")
    assert f"({mtn.messages:,} messages, p=" in mtn.reason
    assert mtn.p_value is not None
    assert mtn.p_value < 0.001
    assert mtn.rate is not None
    assert mtn.baseline_rate is not None
    assert mtn.rate > max(1.5 * mtn.baseline_rate, mtn.baseline_rate + 0.02)
    assert mtn.rate_low is not None
    assert mtn.baseline_high is not None
    assert mtn.rate_low > mtn.baseline_high  # the day's interval clears the baseline band
    for other in ("carrier:Orange", "carrier:Moov"):
        assert findings[other].severity is None, findings[other].reason


def test_an_account_wide_spike_is_an_error_globally(con: duckdb.DuckDBPyConnection) -> None:
    findings = find_failure_spikes(con, ACCOUNT_SPIKE)
    account = findings[0]
    assert account.segment == "all"
    assert account.severity == "ERROR", account.reason
    assert account.reason.startswith("all failures jumped from ")
    assert by_segment(findings)["carrier:Orange"].severity == "ERROR"


def test_a_range_is_judged_from_one_read_as_each_day_alone(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """The days of a ranged run: one query and one walk, the same verdicts as each day judged on
    its own (the history is shorter than a day's warm-up of 2 * baseline_days, so each day's
    own walk and the range's start before the first day stored). The range holds both spikes
    and the clean days, and the account spike has the carrier's in its baseline."""
    first = CLEAN_DAYS[0]
    counting = CountingConnection(con)
    by_day = find_failure_spikes_by_day(counting, first, END)
    assert counting.statements == 1
    assert list(by_day) == [first + timedelta(days=i) for i in range((END - first).days + 1)]
    for day, findings in by_day.items():
        assert findings == find_failure_spikes(con, day), day
    flagged = {day: [f.segment for f in fs if f.severity == "ERROR"] for day, fs in by_day.items()}
    assert "carrier:MTN" in flagged[CARRIER_SPIKE]
    assert "all" in flagged[ACCOUNT_SPIKE]
    with pytest.raises(ValueError, match="last must not be before first"):
        find_failure_spikes_by_day(con, END, first)


def test_the_counts_are_the_archives_final_messages(
    con: duckdb.DuckDBPyConnection, history: tuple[Path, list[dict[str, str]]]
) -> None:
    """What the check counts, recounted from the API's own records: pending and unknown
    statuses are not final; carriers as the warehouse derives them."""
    expected: dict[str, list[int]] = {}
    for record in history[1]:
        if record["HIS_DATEHEURECREA"][:10] != CARRIER_SPIKE.isoformat():
            continue
        if record["HIS_STATUT"] not in ("1", "2"):
            continue
        carrier = recipient_details(record["HIS_DESTINATAIRE"])[3] or "unknown"
        for segment in ("all", f"sender:{record['HIS_EXPEDITEUR']}", f"carrier:{carrier}"):
            cell = expected.setdefault(segment, [0, 0])
            cell[0] += 1
            cell[1] += record["HIS_STATUT"] == "2"
    counts = load_daily_counts(con, CARRIER_SPIKE, CARRIER_SPIKE)
    assert {s: list(days[CARRIER_SPIKE]) for s, days in counts.items()} == expected


def test_a_small_account_is_insufficient_data_not_a_spike(tmp_path: Path) -> None:
    """Thirty messages a day: even a fivefold spike is not judged on so few."""
    path, _ = build_warehouse(tmp_path, 30, (Spike(END, "all", 5.0),))
    with duckdb.connect(str(path), read_only=True) as connection:
        findings = find_failure_spikes(connection, END)
    assert findings
    for finding in findings:
        assert finding.severity is None
        assert finding.p_value is None
        assert "insufficient data" in finding.reason
    account = findings[0]
    assert account.messages < 50
    assert account.reason == (
        f"all: insufficient data ({account.messages} messages, {account.failed} failed; "
        "needs 50 and 5)"
    )


def test_no_baseline_yet_on_the_first_days(con: duckdb.DuckDBPyConnection) -> None:
    account = find_failure_spikes(con, START + timedelta(days=3))[0]
    assert account.severity is None
    assert account.p_value is None
    assert account.reason == "all: no baseline yet (3 days of history; needs 7)"


# -- on hand-made counts ------------------------------------------------------------------------

DAY = date(2025, 3, 31)
BEFORE = [DAY - timedelta(days=i) for i in range(28, 0, -1)]


def judge(counts: DailyCounts, config: SpikeConfig | None = None) -> dict[str, SpikeFinding]:
    return by_segment(assess_history(counts, [*BEFORE, DAY], config or SpikeConfig())[DAY])


def test_an_over_dispersed_big_segment_does_not_alarm_on_its_usual_wobble() -> None:
    """50,000 messages a day whose rate wanders between 3 % and 9 %: a 9.5 % day is binomially
    impossible (p ~ 1e-190 against a steady 6 %) but ordinary for this account."""
    wandering = [0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]
    history = {d: (50_000, round(50_000 * wandering[i % 7])) for i, d in enumerate(BEFORE)}
    day = {DAY: (50_000, 4_750)}
    assert judge({"all": history | day})["all"].severity is None
    steady = dict.fromkeys(BEFORE, (50000, 3000))
    assert judge({"all": steady | day})["all"].severity == "ERROR"


def test_a_small_new_segment_does_not_alarm_on_cold_start() -> None:
    """A sender never seen before borrows the account's rate and its uncertainty: senders of
    this account differ (2 % to 14 %), so 20 % on its first 80 messages is not a spike, while
    the same day from an established 5 % sender is."""
    rates = {"A": 0.02, "B": 0.05, "C": 0.09, "D": 0.14}
    counts: dict[str, dict[date, tuple[int, int]]] = {"all": {}}
    for d in [*BEFORE, DAY]:
        for name, rate in rates.items():
            counts.setdefault(f"sender:{name}", {})[d] = (400, round(400 * rate))
        counts["all"][d] = (1600, sum(round(400 * r) for r in rates.values()))
    new = counts | {"sender:NEW": {DAY: (80, 16)}}
    new["all"] = counts["all"] | {DAY: (1680, counts["all"][DAY][1] + 16)}
    found = judge(new)["sender:NEW"]
    assert found.severity is None, found.reason
    assert found.baseline_days == 0
    assert found.baseline_rate is not None
    assert 0.05 < found.baseline_rate < 0.1

    established = counts | {"sender:B": counts["sender:B"] | {DAY: (80, 16)}}
    assert judge(established)["sender:B"].severity == "ERROR"


def test_a_flagged_day_stays_out_of_the_later_baselines() -> None:
    """A 30 % day among steady 5 % days is flagged, then enters the next baselines only at
    the top of the band it broke: it would otherwise lift them by about 25 / 28 points."""
    spike = DAY - timedelta(days=3)
    counts = {"all": dict.fromkeys(BEFORE, (2_000, 100)) | {spike: (2_000, 600)}}
    counts["all"][DAY] = (2_000, 100)
    results = assess_history(counts, [*BEFORE, DAY])
    assert results[spike][0].severity == "ERROR"
    later = results[DAY][0].baseline_rate
    assert later is not None
    assert later < 0.052
    assert later > 0.05  # the capped day still counts


def _senders(senders: int, failed_first: int) -> DailyCounts:
    """``senders`` steady senders (500 a day, 5 % failed); the first fails ``failed_first``
    of its 500 on DAY."""
    counts: dict[str, dict[date, tuple[int, int]]] = {}
    for index in range(senders):
        today = failed_first if index == 0 else 25
        counts[f"sender:S{index:02d}"] = dict.fromkeys(BEFORE, (500, 25)) | {DAY: (500, today)}
    counts["all"] = dict.fromkeys(BEFORE, (500 * senders, 25 * senders))
    counts["all"][DAY] = (500 * senders, 25 * (senders - 1) + failed_first)
    return counts


def test_warn_is_controlled_across_segments_by_benjamini_hochberg() -> None:
    """8 % on 500 messages against a steady 5 % (p about 0.003): a WARN among three segments,
    nothing among twenty-one, where one such p-value is what chance gives; an ERROR needs
    p < 0.001 whatever the number of segments."""
    few = judge(_senders(2, 40))["sender:S00"]
    assert few.p_value is not None
    assert 0.001 < few.p_value < 0.05 / 3
    assert few.severity == "WARN", few.reason
    many = judge(_senders(20, 40))["sender:S00"]
    assert many.p_value is not None
    assert many.p_value > 0.05 / 21
    assert many.severity is None, many.reason
    assert judge(_senders(20, 45))["sender:S00"].severity == "ERROR"


def test_a_significant_rise_under_the_practical_floor_passes() -> None:
    """+1.5 points on 20,000 messages against a steady 5 %: certain, but too small to act on."""
    steady = dict.fromkeys(BEFORE, (20000, 1000))
    found = judge({"all": steady | {DAY: (20_000, 1_300)}})["all"]
    assert found.p_value is not None
    assert found.p_value < 1e-9
    assert found.severity is None
    assert "under the practical floor (+2 points and 1.5x)" in found.reason
    relaxed = SpikeConfig(min_rise=0.01, min_ratio=1.2)
    assert judge({"all": steady | {DAY: (20_000, 1_300)}}, relaxed)["all"].severity == "ERROR"


def test_weekday_seasonality_expects_the_weekends_rate_on_a_weekend() -> None:
    """Sundays fail at 9 %, other days at 5 %: with seasonality a 9 % Sunday is expected."""
    day = date(2025, 3, 30)  # a Sunday
    before = [day - timedelta(days=i) for i in range(28, 0, -1)]
    history = {
        d: (2_000, 180 if d.weekday() == 6 else 100) for d in before
    }  # fmt: skip
    counts = {"all": history | {day: (2_000, 190)}}
    plain = assess_history(counts, [*before, day])[day][0]
    seasonal = assess_history(counts, [*before, day], SpikeConfig(weekday_seasonality=True))[day][0]
    assert plain.baseline_rate is not None
    assert seasonal.baseline_rate is not None
    assert plain.baseline_rate < 0.065 < 0.08 < seasonal.baseline_rate
    assert plain.severity is not None
    assert seasonal.severity is None


# -- the pieces ---------------------------------------------------------------------------------


def _pmf(k: int, n: int, a: float, b: float) -> float:
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    log_beta_k = math.lgamma(k + a) + math.lgamma(n - k + b) - math.lgamma(n + a + b)
    return math.comb(n, k) * math.exp(log_beta_k - log_beta)


@pytest.mark.parametrize(("n", "a", "b"), [(10, 1.0, 1.0), (40, 2.0, 30.0), (200, 0.5, 9.5)])
def test_the_beta_binomial_tail_matches_the_sum_of_its_terms(n: int, a: float, b: float) -> None:
    for k in range(n + 1):
        expected = sum(_pmf(j, n, a, b) for j in range(k, n + 1))
        assert beta_binomial_sf(k, n, a, b) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_below_the_mean_of_a_wide_distribution_the_tail_is_approximated_closely() -> None:
    """A big day's p-value at or below its expected count is about one half or more: the
    normal approximation used there stays within a few hundredths of the exact sum."""
    n, a, b = 20_000, 14.0, 186.0  # mean 1,400 failures, sd about 360
    for k in (900, 1_200, 1_390):
        exact = spikes_module._tail(k, n, a, b, 1)  # the upper sum, term by term
        approximate = beta_binomial_sf(k, n, a, b)
        assert approximate == pytest.approx(exact, abs=0.05)
        assert approximate > 0.4


def test_the_beta_binomial_tail_becomes_binomial_when_the_rate_does_not_vary() -> None:
    n, p = 1_000, 0.05
    binomial = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(70, n + 1))
    concentration = 1e9
    tail = beta_binomial_sf(70, n, concentration * p, concentration * (1 - p))
    assert tail == pytest.approx(binomial, rel=1e-4)


def test_wilson_interval_and_p_values_read_as_documented() -> None:
    low, high = wilson_interval(5, 100)
    assert (round(low, 4), round(high, 4)) == (0.0215, 0.1118)
    assert wilson_interval(0, 20)[0] == 0.0
    assert [format_p_value(p) for p in (0.43, 0.0042, 2.3e-9, 0.0)] == [
        "0.43",
        "0.0042",
        "2e-9",
        "<1e-300",
    ]


@pytest.mark.parametrize(
    "fields",
    [{"baseline_days": 1}, {"min_baseline_days": 40}, {"warn_q": 0.0}, {"min_ratio": 0.5}],
)
def test_spike_config_refuses_nonsense(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        SpikeConfig(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"baseline_days": 1},
        {"baseline_days": 367},
        {"min_baseline_days": 1},
        {"min_baseline_days": 40},
        {"seasonality_prior": -1.0},
        {"seasonality_prior": float("nan")},
        {"min_messages": 0},
        {"min_failures": -1},
        {"min_rise": -0.01},
        {"min_rise": 1.5},
        {"min_ratio": 0.5},
        {"warn_q": 0.0},
        {"error_p": 1.0},
        {"dispersion_confidence": 1.0},
        {"dispersion_confidence": -0.1},
    ],
)
def test_a_bad_threshold_is_named_with_its_value(fields: dict[str, float]) -> None:
    """Each threshold's bounds are checked where it is defined, the error naming it."""
    ((name, value),) = fields.items()
    with pytest.raises(ValidationError) as raised:
        SpikeConfig(**fields)  # type: ignore[arg-type]
    (error,) = raised.value.errors()
    assert error["loc"] == (name,)
    assert name in error["msg"]
    assert repr(value) in error["msg"] or str(value) in error["msg"]


def test_spike_config_takes_no_unknown_threshold() -> None:
    with pytest.raises(ValidationError, match="min_rate"):
        SpikeConfig(min_rate=0.1)  # type: ignore[call-arg]


@pytest.mark.parametrize("module", ["__init__.py", "spikes.py", "quality.py", "intraday.py"])
def test_the_statistics_know_no_dagster(module: str) -> None:
    """Only ``checks.definitions`` builds Dagster objects; the rest is usable without it."""
    path = Path(spikes_module.__file__).parent / module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] == "dagster"}
    assert "smspresto_pipeline.checks.definitions" not in imported
