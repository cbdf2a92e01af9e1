"""Campaign activations: when each campaign was first switched on, and its baseline.

A campaign's first activation records the rows its query returns then as ``baseline`` in the
outbox (never sent), so switching a campaign on never texts a whole table. The activation
itself is a row of ``smspresto.campaign_activations`` (campaign, time, how many baseline rows,
by whom), written in the **same transaction** as the baseline rows, even when there are none:
a campaign switched on while its query returns nothing is activated all the same, and the
first rows that appear later are new rows, sent.

A campaign is **activated** when it has an activation row *or* any outbox row: a file made
before this table existed, whose campaigns already have outbox rows, takes no surprise baseline
after an upgrade. A file replaced (the outbox lost) loses both, and the next activation records
a baseline again. Reading a file that does not exist, or one without this table, finds no
activation and creates nothing.

Example:
    >>> import tempfile, pathlib
    >>> from smspresto_pipeline.warehouse import Warehouse
    >>> activations = CampaignActivations(Warehouse(pathlib.Path(tempfile.mkdtemp()) / "w.duckdb"))
    >>> activations.is_activated("welcome")
    False
    >>> activations.activate("welcome", [], by="sensor:welcome_sensor").baseline_rows
    0
    >>> activations.is_activated("welcome"), activations.activate("welcome", [], by="again")
    (True, None)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from smspresto_pipeline.sending.outbox import OUTBOX_STATES, OutboxMessage, OutboxSession
from smspresto_pipeline.storage import HasDatabase, Session
from smspresto_pipeline.storage.timestamps import utc_naive
from smspresto_pipeline.wording import plural

__all__ = ["Activation", "CampaignActivations", "CampaignOverview", "is_activated_on"]

#: The table holding the activations.
TABLE = "campaign_activations"


@dataclasses.dataclass(frozen=True, slots=True)
class Activation:
    """A campaign's first activation; ``activated_at`` is naive UTC.

    Attributes:
        campaign: the campaign's name.
        activated_at: when the baseline was recorded.
        baseline_rows: the rows recorded as ``baseline`` then (0: the query returned none).
        activated_by: ``sensor:<sensor name>`` or ``job:<job name>:<run id>``.
    """

    campaign: str
    activated_at: datetime
    baseline_rows: int
    activated_by: str

    def describe(self) -> str:
        """``activated <time> UTC by <who>, <n> rows recorded as baseline``."""
        return (
            f"activated {self.activated_at:%Y-%m-%d %H:%M:%S} UTC by {self.activated_by}, "
            f"{plural(self.baseline_rows, 'row')} recorded as baseline"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignOverview:
    """A campaign as the warehouse knows it (see :meth:`CampaignActivations.overview`).

    Attributes:
        campaign: the campaign's name.
        activation: its activation row; None when it has none (not activated yet, or
            activated before the table existed: then it has outbox rows).
        outbox: its outbox rows by state (states without rows left out).
    """

    campaign: str
    activation: Activation | None
    outbox: Mapping[str, int]


class CampaignActivations:
    """The activations recorded in a warehouse (a
    :class:`~smspresto_pipeline.warehouse.Warehouse`).

    Args:
        warehouse: the warehouse.
    """

    def __init__(self, warehouse: HasDatabase) -> None:
        self.warehouse = warehouse
        self.database = warehouse.database

    def __repr__(self) -> str:
        return f"CampaignActivations({self.warehouse!r})"

    def get(self, campaign: str) -> Activation | None:
        """The campaign's activation row; None when it has none (or the file or table is
        missing: nothing is created)."""
        found = self._select(campaign)
        return found[0] if found else None

    def all(self) -> list[Activation]:
        """Every recorded activation, by campaign name."""
        return self._select(None)

    def overview(self) -> list[CampaignOverview]:
        """Every campaign with an activation or outbox rows, by name: its activation and its
        outbox rows by state (read-only; nothing when the file is missing)."""
        if not self.database.exists():
            return []
        with self.database.reading() as session:
            activations = (
                {a.campaign: a for a in _activations(session, None)}
                if _table_exists(session)
                else {}
            )
            counts: dict[str, dict[str, int]] = {}
            for campaign, state, rows in session.fetch_all(
                "dml/count_outbox_by_campaign_state.sql"
            ):
                counts.setdefault(campaign, {})[state] = int(rows)
        return [
            CampaignOverview(name, activations.get(name), counts.get(name, {}))
            for name in sorted(activations.keys() | counts.keys())
        ]

    def is_activated(self, campaign: str) -> bool:
        """Whether the campaign has an activation row or any outbox row (read-only)."""
        if not self.database.exists():
            return False
        with self.database.reading() as session:
            return is_activated_on(session, campaign)

    def activate(
        self,
        campaign: str,
        baseline: Sequence[OutboxMessage],
        *,
        by: str,
        run_id: str | None = None,
        now: datetime | None = None,
    ) -> Activation | None:
        """Record the campaign's first activation and its baseline, in one transaction.

        ``baseline`` (the rows the query returns now, possibly none) is claimed ``baseline``
        under ``run_id``; the activation row counts the rows claimed. Nothing is written when
        the campaign is already activated (an activation row or any outbox row, checked inside
        the transaction, so two evaluations racing record one baseline): None is returned.

        Raises:
            ValueError: a baseline message of another campaign, or ``by`` blank.
        """
        if not by.strip():
            raise ValueError("by must not be blank")
        others = {m.campaign for m in baseline} - {campaign}
        if others:
            raise ValueError(f"baseline of {campaign!r} holds messages of {sorted(others)}")
        with self.database.transaction() as session:
            if is_activated_on(session, campaign):
                return None
            claimed = OutboxSession(session).claim(
                baseline, state="baseline", run_id=run_id, now=now
            )
            params = {
                "campaign": campaign,
                "now": utc_naive(now),
                "baseline_rows": len(claimed),
                "activated_by": by,
            }
            [row] = session.fetch_all("dml/insert_campaign_activation.sql", params)
        return Activation(*row)

    def _select(self, campaign: str | None) -> list[Activation]:
        if not self.database.exists():
            return []
        with self.database.reading() as session:
            if not _table_exists(session):
                return []
            return _activations(session, campaign)


def _table_exists(session: Session) -> bool:
    return TABLE in session.tables()


def _activations(session: Session, campaign: str | None) -> list[Activation]:
    rows = session.fetch_all("dml/select_campaign_activations.sql", {"campaign": campaign})
    return [Activation(*row) for row in rows]


def is_activated_on(session: Session, campaign: str) -> bool:
    """:meth:`CampaignActivations.is_activated` in an open session of the warehouse."""
    if _table_exists(session) and _activations(session, campaign):
        return True
    return bool(OutboxSession(session).rows(OUTBOX_STATES, campaign=campaign, limit=1))
