"""A confirmed surge: what the volume breaker's message says a confirmation will do, and what
each choice for the rest (``surge_rest``: expire, keep, drop) then does, through real sensor
evaluations and send runs against the simulator, over the days the caps spread it on.

The campaign's caps are small (3 a run, 5 a day, valid a day) so that 20 rows show what the
defaults do to 60,000 (``test_guards`` has that arithmetic); its clock is moved by the test.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from campaign_fixtures import (
    Harness,
    add_customers,
    customers_campaign,
    failure_text,
    output_metadata,
    sent_texts,
    states,
    texts_of,
)

from smspresto_pipeline.sending import Outbox
from smspresto_pipeline.simulator import RunningSimulator
from smspresto_pipeline.warehouse import Warehouse

#: Confirmed at 14:00 (Africa/Abidjan is UTC+0); held rows expire at 14:00 the next day.
AT = datetime(2025, 3, 6, 14, 0, tzinfo=UTC)
SURGE = range(10, 30)  # 20 new rows, customers c10 to c29


class Clock:
    """The campaign's clock: returns ``at``, which the test sets."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def surging(
    sim: RunningSimulator,
    path: Path,
    instance: dg.DagsterInstance,
    clock: Clock,
    **overrides: object,
) -> Harness:
    """The ``reminder`` campaign, activated (c1 as its baseline), then finding the 20 rows of
    ``SURGE``: above its threshold of 4 (no history: 2 x volume_breaker_min_rows)."""
    caps = {"max_per_run": 3, "max_per_day": 5, "validity_seconds": 86_400}
    campaign = customers_campaign(
        volume_breaker_factor=2, volume_breaker_min_rows=2, **{**caps, **overrides}
    )
    promo = Harness(campaign, sim, path, instance, clock)
    add_customers(path, 1)
    assert "baseline" in promo.skip()
    add_customers(path, *SURGE)
    return promo


def drain(promo: Harness) -> str:
    """Run every batch the sensor requests now, as its ticks would; the skip that ends it."""
    while isinstance(request := promo.evaluate(), dg.RunRequest):
        assert promo.run(request).success
    return str(request.skip_message)


def surges(path: Path) -> list[tuple[str, int, int, str, int]]:
    """The confirmations recorded: (campaign, found rows, threshold, rest, rest rows)."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT campaign, found_rows, threshold, rest, rest_rows "
            "FROM smspresto.campaign_surges ORDER BY confirmed_at"
        ).fetchall()
    return [tuple(row) for row in rows]


def counted(path: Path) -> dict[str, int]:
    """How many of the surge's rows are in each state."""
    found: dict[str, int] = {}
    for key, state in states(path).items():
        if key != "c1":
            found[state] = found.get(state, 0) + 1
    return found


def test_the_breaker_says_what_a_confirmation_does_with_each_row(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    promo = surging(sim, path, instance, Clock(AT))
    skip = promo.skip()
    assert "found 20 new rows to send, above its threshold of 4" in skip
    assert "confirm_volume: true, surge_rest: <expire|keep|drop>" in skip
    # The first run: max_per_run, within what the day has left.
    assert "A confirmed run sends 3 now (max_per_run 3; 5 left of today's max_per_day 5)" in skip
    assert "holds the other 17 for the next runs" in skip
    assert "the sensor reminder_sensor sends them while it is running" in skip
    assert "expire at 2025-03-07 14:00 (Africa/Abidjan) (validity_seconds 86400" in skip
    # Today's 2 left and tomorrow's 5 before 14:00; 10 expire. Kept: 5 a day to the 9th.
    assert "expire: the caps let at most 7 of them go before that" in skip
    assert "and the other 10 expire unsent" in skip
    assert (
        "keep: they never expire and all go within max_per_day and quiet hours, the last on "
        "2025-03-09" in skip
    )
    assert "drop: they are recorded skipped (surge_dropped) now and never sent" in skip
    # The job launched without confirming fails with the same words, claiming nothing.
    assert failure_text(promo.run()) == skip
    assert states(path) == {"c1": "baseline"}
    assert sim.sends == []


def test_confirm_volume_alone_asks_what_becomes_of_rows_that_would_expire(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    promo = surging(sim, path, instance, Clock(AT))
    text = failure_text(promo.run(confirm_volume=True))
    assert text.startswith(
        "campaign 'reminder': confirm_volume alone would let 10 of the 20 new rows expire "
        "unsent: nothing was claimed or sent."
    )
    assert "surge_rest: <expire|keep|drop>" in text
    assert "the caps let at most 7 of them go before that" in text
    assert states(path) == {"c1": "baseline"}
    assert sim.sends == []
    assert surges(path) == []


@pytest.mark.slow
def test_confirm_volume_alone_sends_a_surge_the_caps_absorb(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    """Nothing would expire (5 a day is enough for the 17 held rows within validity): no choice
    to make, the rest is held and sent."""
    clock = Clock(AT)
    promo = surging(sim, path, instance, clock, max_per_day=20)
    metadata = output_metadata(promo.run(confirm_volume=True))
    assert (metadata["sent"], metadata["held"]) == (3, 17)
    assert surges(path) == [("reminder", 20, 4, "expire", 17)]
    clock.at = AT + timedelta(minutes=5)
    drain(promo)
    assert counted(path) == {"sent": 20}
    assert sorted(sent_texts(sim)) == texts_of(*SURGE)


def test_surge_rest_expire_sends_what_the_caps_allow_and_the_rest_expires(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(AT)
    promo = surging(sim, path, instance, clock)
    metadata = output_metadata(promo.run(confirm_volume=True, surge_rest="expire"))
    assert (metadata["sent"], metadata["held"]) == (3, 17)
    assert surges(path) == [("reminder", 20, 4, "expire", 17)]
    clock.at = AT + timedelta(minutes=5)
    assert "daily cap reached" in drain(promo)  # 2 more today
    clock.at = datetime(2025, 3, 7, 0, 30, tzinfo=UTC)
    assert "daily cap reached" in drain(promo)  # 5 tomorrow
    assert counted(path) == {"sent": 10, "held": 10}
    clock.at = datetime(2025, 3, 7, 14, 0, tzinfo=UTC)  # a day after the claim
    assert drain(promo) == "nothing new to send (10 held rows expired, past validity_seconds)"
    # What the message said: 3 + 7 sent, 10 expired unsent.
    assert counted(path) == {"sent": 10, "expired": 10}
    assert len(sent_texts(sim)) == 10


@pytest.mark.slow
def test_surge_rest_keep_sends_every_row_over_the_days_the_caps_need(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(AT)
    promo = surging(sim, path, instance, clock)
    metadata = output_metadata(promo.run(confirm_volume=True, surge_rest="keep"))
    assert (metadata["sent"], metadata["held"]) == (3, 17)
    assert surges(path) == [("reminder", 20, 4, "keep", 17)]
    clock.at = AT + timedelta(minutes=5)
    drain(promo)
    assert counted(path) == {"sent": 5, "held": 15}
    for day, sent in ((7, 10), (8, 15), (9, 20)):
        clock.at = datetime(2025, 3, day, 15, 0, tzinfo=UTC)  # past the rows' validity
        drain(promo)
        assert counted(path) == ({"sent": sent, "held": 20 - sent} if sent < 20 else {"sent": 20})
    # The last on the 9th, as the message said; none expired, each sent once.
    assert sorted(sent_texts(sim)) == texts_of(*SURGE)
    clock.at = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
    assert drain(promo) == "nothing new to send"


def test_surge_rest_drop_records_the_rest_skipped_and_never_sends_it(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance
) -> None:
    clock = Clock(AT)
    promo = surging(sim, path, instance, clock)
    metadata = output_metadata(promo.run(confirm_volume=True, surge_rest="drop"))
    assert (metadata["sent"], metadata["held"]) == (3, 0)
    assert metadata["skipped_by_reason"] == {"surge_dropped": 17}
    assert surges(path) == [("reminder", 20, 4, "drop", 17)]
    skipped = Outbox(Warehouse(path)).rows("skipped", campaign="reminder")
    assert {row.skip_reason for row in skipped} == {"surge_dropped"}
    assert len(skipped) == 17
    clock.at = datetime(2025, 3, 7, 0, 30, tzinfo=UTC)
    assert drain(promo) == "nothing new to send"
    assert counted(path) == {"sent": 3, "skipped": 17}
    assert len(sent_texts(sim)) == 3


@pytest.mark.parametrize("rest", ["keep", "drop"])
def test_a_surge_confirmed_in_quiet_hours_holds_or_drops_every_row(
    sim: RunningSimulator, path: Path, instance: dg.DagsterInstance, rest: str
) -> None:
    """In quiet hours the first run sends nothing: the choice is about all the rows."""
    night = datetime(2025, 3, 6, 23, 0, tzinfo=UTC)
    clock = Clock(night)
    promo = surging(sim, path, instance, clock, quiet_hours={"start": "21:00", "end": "08:00"})
    assert "A confirmed run sends nothing now (quiet hours) and holds the other 20" in (
        promo.skip()
    )
    metadata = output_metadata(promo.run(confirm_volume=True, surge_rest=rest))
    assert metadata["sent"] == 0
    assert surges(path) == [("reminder", 20, 4, rest, 20)]
    clock.at = datetime(2025, 3, 9, 9, 0, tzinfo=UTC)  # days past the rows' validity
    drain(promo)
    expected = {"sent": 5, "held": 15} if rest == "keep" else {"skipped": 20}
    assert counted(path) == expected
