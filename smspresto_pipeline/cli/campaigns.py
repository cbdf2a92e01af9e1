"""``smspresto campaigns``: the campaigns' circuit breaker (status, resume, pause)."""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.table import Table

from smspresto_pipeline.cli.common import (
    ChosenWarehouse,
    out_console,
    warehouse_errors,
    warehouse_options,
)
from smspresto_pipeline.sending import (
    CampaignActivations,
    CampaignOverview,
    CircuitBreaker,
    Outbox,
    Trip,
)
from smspresto_pipeline.sending.outbox import HeldSurge
from smspresto_pipeline.wording import plural


@click.group("campaigns")
def campaigns() -> None:
    """The campaigns' circuit breaker: status, resume, pause.

    Every campaign pauses while the breaker is tripped: when the failure-rate spike check fails
    at ERROR (it ends by itself when the check passes again for that day), or when a person
    pauses them. Kept in the warehouse (table smspresto.campaign_pauses; --warehouse or
    --duckdb).
    """


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown user"


F = TypeVar("F", bound=Callable[..., Any])


def _person_options(func: F) -> F:
    """Add ``--reason``, ``--by`` and the warehouse's options: what a person's change to the
    breaker takes."""
    func = warehouse_options(func)
    func = click.option(
        "--by",
        default=_default_user,
        show_default="your login name",
        help="Who (kept in the breaker's history).",
    )(func)
    return click.option(
        "--reason", required=True, help="Why (kept in the breaker's history, shown by the sensors)."
    )(func)


def _require_text(value: str, name: str) -> None:
    if not value.strip():
        raise click.BadParameter("must not be blank", param_hint=name)


def _person_breaker(reason: str, by: str, warehouse: ChosenWarehouse) -> CircuitBreaker:
    """The breaker in ``warehouse``, once who and why are given; exit 2 before anything is
    read or written when either is blank or the warehouse is missing (a pause written to a new
    file would pause nothing: the campaigns read their own)."""
    _require_text(reason, "--reason")
    _require_text(by, "--by")
    return CircuitBreaker(warehouse.open(must_exist=True))


def _trip_json(trip: Trip) -> dict[str, Any]:
    row = dataclasses.asdict(trip)
    for field in ("tripped_at", "resumed_at"):
        row[field] = row[field] and row[field].isoformat()
    return {**row, "active": trip.active}


def _surge_json(surge: HeldSurge) -> dict[str, Any]:
    return {**dataclasses.asdict(surge), "held_at": surge.held_at.isoformat()}


def _at(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _campaign_json(overview: CampaignOverview) -> dict[str, Any]:
    activation = overview.activation
    return {
        "campaign": overview.campaign,
        "activated_at": activation and activation.activated_at.isoformat(),
        "activated_by": activation and activation.activated_by,
        "baseline_rows": activation and activation.baseline_rows,
        "outbox": dict(overview.outbox),
    }


def _campaigns_table(overviews: Sequence[CampaignOverview]) -> Table:
    table = Table(title="Campaigns (activation, outbox rows by state)")
    for column in ("Campaign", "Activated", "By", "Baseline", "Outbox"):
        table.add_column(column)
    for o in overviews:
        a = o.activation
        outbox = ", ".join(f"{state} {rows:,}" for state, rows in o.outbox.items())
        table.add_row(
            *map(
                escape,
                (
                    o.campaign,
                    _at(a.activated_at) if a else "before activations were recorded",
                    a.activated_by if a else "",
                    str(a.baseline_rows) if a else "",
                    outbox,
                ),
            )
        )
    return table


@campaigns.command("status")
@click.option("--history", "limit", default=20, show_default=True, help="Trips to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@warehouse_options
def campaigns_status(limit: int, as_json: bool, warehouse: ChosenWarehouse) -> None:
    """Say whether campaigns are paused, why, since when and by whom, and which campaign holds
    a surge for confirmation; list the latest trips; each campaign's activation and outbox rows
    by state (times in UTC)."""
    store = warehouse.open(must_exist=True)
    breaker = CircuitBreaker(store)
    with warehouse_errors(warehouse):
        state = breaker.state()
        history = breaker.history(limit=limit)
        overviews = CampaignActivations(store).overview()
        surges = Outbox(store).held_surges()
    if as_json:
        document = {
            "paused": state.tripped,
            "description": state.describe(),
            "active": [_trip_json(t) for t in state.trips],
            "history": [_trip_json(t) for t in history],
            "held_surges": [_surge_json(s) for s in surges],
            "campaigns": [_campaign_json(o) for o in overviews],
        }
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    out = out_console()
    text = state.describe()
    colour = "red" if state.tripped else "green"
    out.print(f"[{colour}]{escape(text[:1].upper() + text[1:])}.[/]")
    for surge in surges:
        out.print(
            f"[yellow]Campaign {surge.campaign!r} holds a surge of {surge.found_rows} new rows "
            f"(threshold {surge.threshold}) for confirmation since {_at(surge.held_at)}[/]: "
            f"{escape(surge.resolve)}."
        )
    if overviews:
        out.print(_campaigns_table(overviews))
    if not history:
        out.print(f"No trip recorded in {warehouse}.", markup=False)
        return
    table = Table(title=f"Latest {plural(len(history), 'trip')}")
    for column in ("Tripped", "Reason", "Source", "Partition", "Resumed", "By", "Why"):
        table.add_column(column)
    for t in history:
        table.add_row(
            *map(
                escape,
                (
                    _at(t.tripped_at),
                    t.reason,
                    t.source,
                    t.partition_key or "",
                    _at(t.resumed_at) if t.resumed_at else "active",
                    t.resumed_by or "",
                    t.resume_reason or "",
                ),
            )
        )
    out.print(table)


@campaigns.command("resume")
@_person_options
def campaigns_resume(reason: str, by: str, warehouse: ChosenWarehouse) -> None:
    """Resume every campaign: end every active trip, whatever tripped it."""
    breaker = _person_breaker(reason, by, warehouse)
    with warehouse_errors(warehouse):
        ended = breaker.resume(by=f"cli:{by}", reason=reason)
    out = out_console()
    if not ended:
        out.print("Campaigns were not paused: nothing to resume.", markup=False)
        return
    out.print(f"Resumed the campaigns ({plural(len(ended), 'trip')} ended):", markup=False)
    for trip in ended:
        out.print(f"  - {trip.describe()}", markup=False)


@campaigns.command("pause")
@_person_options
def campaigns_pause(reason: str, by: str, warehouse: ChosenWarehouse) -> None:
    """Pause every campaign until a person resumes them (sensors skip, send jobs refuse)."""
    breaker = _person_breaker(reason, by, warehouse)
    with warehouse_errors(warehouse):
        trip = breaker.trip(reason, source=f"cli:{by}")
    out_console().print(f"Campaigns paused: {trip.describe()}", markup=False)
