"""What a campaign is: :class:`Campaign`, a frozen pydantic model checked when it is built.

Every field is a plain YAML value (strings, numbers, booleans, and two small nested models), so
the campaign component's ``defs.yaml`` attributes can mirror these fields one for one, with the
same names, defaults and descriptions. Durations are whole seconds; times of day are
``"HH:MM"`` strings in the campaign's time zone. Bounds are checked by validators rather than
``Field(ge=...)``, whose ``Annotated`` types Dagster cannot resolve from YAML. The component
must take ``template`` as written (``dg.Resolver(..., inject_before_resolve=False)``): Dagster
otherwise renders ``{{ ... }}`` in YAML strings itself, emptying the message's placeholders.

A bad field fails construction with a ``pydantic.ValidationError`` that names the field and
says what is wrong; the template is compiled and the sender checked right then, so a campaign
that exists can be rendered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from smspresto_pipeline.campaigns.render import CompiledTemplate, compile_template
from smspresto_pipeline.sms import validate_sender
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE, check_timezone

__all__ = ["REQUIRED_COLUMNS", "Campaign", "FrequencyCap", "QuietHours"]

#: The columns every campaign query must return.
REQUIRED_COLUMNS: tuple[str, ...] = ("recipient", "dedup_key")

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MAX_NAME = 48
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DAY = 86_400


_Check = Callable[[Any, str], Any]


def _between(low: int, high: int | None = None) -> _Check:
    # Bounds are checked here, not with Field(ge=...): the constraints would make the fields'
    # types Annotated[int, Ge(...)], which Dagster's YAML resolution does not accept.
    def check(value: float, field: str) -> float:
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"{field} must be {bounds}, got {value!r}")
        return value

    return check


def _name(value: str, field: str) -> str:
    if not _NAME.fullmatch(value) or len(value) > _MAX_NAME:
        raise ValueError(
            f"{field} must be lowercase letters, digits and _, start with a letter and have at "
            f"most {_MAX_NAME} characters (it names a sensor, a job and outbox rows), "
            f"got {value!r}"
        )
    return value


def _sql(value: str, field: str) -> str:
    if not value.strip():
        raise ValueError(f"{field} is empty: give the query that selects the recipients")
    return value


def _template(value: str, field: str) -> str:
    compile_template(value)  # raises naming the line
    return value


def _sender(value: str, field: str) -> str:
    return validate_sender(value)


def _region(value: str, field: str) -> str:
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{field} must be a country's two-letter ISO code (CI, SN, FR ...), got {value!r}"
        )
    return region


def _factor(value: float, field: str) -> float:
    if value <= 1:
        raise ValueError(f"{field} must be more than 1 (or null for no breaker), got {value!r}")
    return value


class _Frozen(BaseModel):
    # Errors quote what they need themselves: pydantic's echo of a whole SQL query or template
    # would bury the reason.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    #: Field name -> its check, run on the parsed value (not on None): (value, name) -> value.
    _CHECKS: ClassVar[Mapping[str, _Check]] = {}

    @field_validator("*")
    @classmethod
    def _check(cls, value: Any, info: ValidationInfo) -> Any:
        check = cls._CHECKS.get(str(info.field_name))
        return value if check is None or value is None else check(value, str(info.field_name))


def _clock(value: object, field: str) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320.
        raise ValueError(
            f'{field} must be a time written in quotes, like "22:00" (YAML reads 22:00 '
            f"without quotes as the number {value})"
        )
    match = _CLOCK.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"{field} must be a time of day as HH:MM (00:00 to 23:59), got {value!r}")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


class QuietHours(_Frozen):
    """A daily window in which nothing is sent; rows selected in it are held until it ends.

    ``start`` is included and ``end`` is not; a window may cross midnight (``22:00`` to
    ``07:00``).

    Example:
        >>> QuietHours(start="21:00", end="8:00").end
        '08:00'
    """

    start: str = Field(
        description="When the quiet window begins each day (HH:MM, the campaign's time zone).",
        examples=["21:00"],
    )
    end: str = Field(
        description="When it ends and held messages go out (HH:MM); before start means the "
        "next day.",
        examples=["08:00"],
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _check_clock(cls, value: object, info: ValidationInfo) -> str:
        return _clock(value, f"quiet_hours.{info.field_name}")

    @model_validator(mode="after")
    def _check_not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(
                f"quiet_hours start and end are both {self.start}: a window must have a length "
                "(leave quiet_hours out to allow sending at any time)"
            )
        return self

    @property
    def start_time(self) -> time:
        """``start`` as a :class:`datetime.time`."""
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        """``end`` as a :class:`datetime.time`."""
        return time.fromisoformat(self.end)


class FrequencyCap(_Frozen):
    """At most ``max_messages`` messages to one number within ``window_seconds``, counting the
    messages of every campaign.

    Example:
        >>> FrequencyCap(max_messages=2, window_seconds=7 * 86400).max_messages
        2
    """

    max_messages: int = Field(
        description="Messages one number may receive within the window, all campaigns counted.",
    )
    window_seconds: int = Field(
        default=_DAY,
        description="The sliding window, in seconds (86400: a day; 604800: a week; 60 to "
        "31622400).",
    )

    _CHECKS: ClassVar[Mapping[str, _Check]] = {
        "max_messages": _between(1),
        "window_seconds": _between(60, 366 * _DAY),
    }


class Campaign(_Frozen):
    """A templated SMS sent to the rows a SQL query returns, with its limits and guards.

    The query is one ``SELECT`` that reads the warehouse's tables and nothing else (no file,
    URL, ``ATTACH``, extension or setting; see
    :func:`~smspresto_pipeline.warehouse.run_read_only_query`). It must return the columns
    ``recipient`` (a phone number) and ``dedup_key`` (what makes a message unique within the
    campaign: the same key is never sent twice), plus the columns the template reads.

    Example:
        >>> campaign = Campaign(
        ...     name="failed_reminder",
        ...     sql="select recipient, history_id as dedup_key, contact_name from t",
        ...     template="Bonjour {{ contact_name or 'client' }}, votre message n'a pas abouti.",
        ...     sender="MaBoutique",
        ...     quiet_hours={"start": "21:00", "end": "08:00"},
        ... )
        >>> campaign.sensor_name, campaign.job_name
        ('failed_reminder_sensor', 'failed_reminder_send')
    """

    name: str = Field(
        description="The campaign's identifier: lowercase letters, digits and _, starting with a "
        f"letter, at most {_MAX_NAME} characters. Names the sensor (<name>_sensor), the send job "
        "(<name>_send) and the campaign's rows in the outbox: renaming starts a new campaign.",
        examples=["failed_reminder"],
    )
    sql: str = Field(
        description="The DuckDB query selecting whom to text: one SELECT that reads the "
        "warehouse's tables (smspresto.* and your own tables in the same file) and nothing else: "
        "no file, URL, ATTACH, extension or SET (load a file into a table first). It must "
        "return the columns recipient and dedup_key, and every column the template reads.",
    )
    template: str = Field(
        description="The message, a Jinja2 template rendered in a sandbox per row: "
        "{{ column }} inserts a column's value; an unknown name is an error, and a NULL must be "
        "handled ({{ x or 'fallback' }}) or the row is skipped.",
        examples=["Bonjour {{ first_name or 'client' }}, votre colis {{ parcel }} est arrivé."],
    )
    sender: str = Field(
        description="The sender shown on handsets: at most 11 ASCII letters, digits and single "
        "spaces (at least one letter), or a phone number of up to 15 digits.",
        examples=["MaBoutique"],
    )
    description: str | None = Field(
        default=None,
        description="What the campaign is for: shown on its sensor and job in the UI.",
    )
    minimum_interval_seconds: int = Field(
        default=300,
        description="Seconds between two evaluations of the campaign's query (30 to 86400).",
    )
    max_per_run: int = Field(
        default=1_000,
        description="Most messages one run sends; rows beyond it wait for the next evaluation.",
    )
    max_per_day: int = Field(
        default=10_000,
        description="Most messages the campaign sends per day (a day of its time zone); rows "
        "beyond it wait for the next day.",
    )
    max_segments: int = Field(
        default=3,
        description="Longest text accepted, in billed SMS parts (3: 459 GSM-7 or 201 UCS-2 "
        "characters); a longer rendered text is skipped, not cut.",
    )
    quiet_hours: QuietHours | None = Field(
        default=None,
        description="A daily window in which nothing is sent (start and end as HH:MM in the "
        "time zone; may cross midnight). Rows selected in it are held until it ends. None: "
        "send at any time.",
        examples=[{"start": "21:00", "end": "08:00"}],
    )
    validity_seconds: int = Field(
        default=_DAY,
        description="How long a held message stays sendable after its row was first selected; "
        "past it, it expires and is never sent (60 to 2592000 seconds; 86400: a day).",
    )
    frequency_cap: FrequencyCap | None = Field(
        default=None,
        description="At most max_messages to one number within window_seconds, counting the "
        "messages of every campaign. None: no cap.",
        examples=[{"max_messages": 1, "window_seconds": 86400}],
    )
    dry_run: bool = Field(
        default=False,
        description="Render, count segments and record what would be sent, and send nothing.",
    )
    send_on_first_activation: bool = Field(
        default=False,
        description="False: the first evaluation (or one after the outbox was lost) records "
        "the rows it finds as a baseline and sends nothing, so switching a campaign on never "
        "texts a whole table; only rows appearing later are sent. True: send them too.",
    )
    volume_breaker_factor: float | None = Field(
        default=5.0,
        description="A batch larger than this many times the campaign's usual batch stops and "
        "waits for confirmation instead of sending. None: no breaker.",
    )
    volume_breaker_min_rows: int = Field(
        default=100,
        description="A batch of at most this many rows never trips the volume breaker, so "
        "small campaigns are not stopped by ordinary swings.",
    )
    default_region: str = Field(
        default="CI",
        description="The country (ISO 3166 code) of numbers written without an international "
        "prefix.",
    )
    timezone: str = Field(
        default=DEFAULT_TIMEZONE,
        description="The account's time zone (IANA name): quiet hours and the daily cap follow it.",
    )
    smart_encoding: bool = Field(
        default=False,
        description="Replace typographic quotes, dashes, ellipses and unusual spaces with their "
        "GSM-7 look-alikes when that makes a message cost fewer SMS parts.",
    )

    _CHECKS: ClassVar[Mapping[str, _Check]] = {
        "name": _name,
        "sql": _sql,
        "template": _template,
        "sender": _sender,
        "minimum_interval_seconds": _between(30, _DAY),
        "max_per_run": _between(1, 1_000_000),
        "max_per_day": _between(1, 10_000_000),
        "max_segments": _between(1, 10),
        "validity_seconds": _between(60, 30 * _DAY),
        "volume_breaker_factor": _factor,
        "volume_breaker_min_rows": _between(1),
        "default_region": _region,
        "timezone": check_timezone,
    }

    @property
    def sensor_name(self) -> str:
        """The name of the campaign's sensor: ``<name>_sensor``."""
        return f"{self.name}_sensor"

    @property
    def job_name(self) -> str:
        """The name of the campaign's send job: ``<name>_send``."""
        return f"{self.name}_send"

    @property
    def compiled_template(self) -> CompiledTemplate:
        """The template, compiled (once per distinct template text)."""
        return compile_template(self.template)

    @property
    def zone(self) -> ZoneInfo:
        """The campaign's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def validity(self) -> timedelta:
        """``validity_seconds`` as a :class:`~datetime.timedelta`."""
        return timedelta(seconds=self.validity_seconds)
