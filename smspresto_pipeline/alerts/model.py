"""An alert: one event a person must act on, in words for an SMS and for a webhook.

Each :class:`Alert` has a stable ``key`` naming its event (``breaker-trip:<trip>``,
``stranded:<campaign>:<run>``, ``run-failed:<run>``, ...): the key is what makes an event told
once, whatever the ticks, processes or crashes (the outbox's unique key for the SMS, the
``smspresto.alert_deliveries`` table for every channel). It says what happened, what it blocks
and the one command or UI action that resolves it. :class:`AlertSettings` is the operator's
configuration: numbers (checked as E.164 before anything is sent), the name of the environment
variable holding the webhook's URL (a Slack webhook URL is a credential: the settings hold its
name, never its value), the rate limit and the thresholds.

Example:
    >>> alert = Alert("stock-runway:default:2025-03-10", "stock-runway",
    ...               "stock 900 SMS parts, about 1.5 days at 600 a day",
    ...               "every campaign once the stock is spent",
    ...               "top up the account on smspresto.com")
    >>> describe_text(alert.sms_text()).segments <= SMS_MAX_SEGMENTS
    True
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from smspresto_pipeline.sms import describe_text, normalize_number, validate_sender
from smspresto_pipeline.timezones import DEFAULT_TIMEZONE

__all__ = [
    "ALERTS_CAMPAIGN",
    "DEFAULT_MAX_PER_HOUR",
    "DEFAULT_RUNWAY_DAYS",
    "DEFAULT_WEBHOOK_URL_ENV",
    "SMS_MAX_SEGMENTS",
    "Alert",
    "AlertSettings",
]

#: The reserved campaign name the alerts' SMS are claimed under in the outbox.
ALERTS_CAMPAIGN = "smspresto_alerts"
#: The environment variable holding the webhook's URL, unless the settings name another.
DEFAULT_WEBHOOK_URL_ENV = "SMSPRESTO_ALERT_WEBHOOK_URL"
#: Alerts a channel sends in any hour at most (a summary of the held ones included).
DEFAULT_MAX_PER_HOUR = 6
#: The stock alert fires when the stock will not last this many days at the recent pace.
DEFAULT_RUNWAY_DAYS = 3
#: An alert's SMS fits in this many parts (306 GSM-7 characters, 134 UCS-2).
SMS_MAX_SEGMENTS = 2

_SMS_PREFIX = "SMS Presto alert: "
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    """One event a person must act on.

    Attributes:
        key: the event's stable key (one alert per key, ever).
        kind: what sort of event (``breaker-trip``, ``paused``, ``stranded``, ``run-failed``,
            ``stock-runway``, ``history-stale``, ``rate-limit``).
        what: what happened, in one sentence.
        blocks: what it blocks until it is resolved.
        resolve: the one command or UI action that resolves it.
    """

    key: str
    kind: str
    what: str
    blocks: str
    resolve: str

    def __post_init__(self) -> None:
        for name in ("key", "kind", "what", "blocks", "resolve"):
            if not getattr(self, name).strip():
                raise ValueError(f"an alert's {name} must not be empty ({self.key!r})")

    def webhook_text(self) -> str:
        """The long text: what happened, what it blocks, how to resolve it, and its key."""
        return (
            f"*{_SMS_PREFIX}{self.kind}*\n{self.what}\nBlocks: {self.blocks}\n"
            f"Resolve: {self.resolve}\n(event {self.key})"
        )

    def sms_text(self, max_segments: int = SMS_MAX_SEGMENTS) -> str:
        """The short text, within ``max_segments`` SMS parts: what happened is shortened first
        (the action and what it blocks are what the operator needs on a phone)."""
        # Backticks (commands in the webhook's Markdown) are not GSM-7: one would make the
        # whole SMS UCS-2, 134 characters in two parts instead of 306.
        what, rest = self.what, f" Blocks: {self.blocks}. Do: {self.resolve}".replace("`", "")
        text = f"{_SMS_PREFIX}{what}{rest}"
        while describe_text(text).segments > max_segments and len(what) > 20:
            # Cut between words: a number cut short reads as another one (p=3e-14 as p=3e-1).
            kept = what[: len(what) - 10]
            if " " in kept:
                kept = kept[: kept.rindex(" ")]
            what = kept.rstrip(" .,:;(") + "..."
            text = f"{_SMS_PREFIX}{what}{rest}"
        while describe_text(text).segments > max_segments:
            text = text[:-10].rstrip() + "..."
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class AlertSettings:
    """The alerting sensor's configuration; :meth:`of` checks it.

    Attributes:
        numbers: the operator's numbers, E.164 (SMS alerts; empty: no SMS).
        sender: the sender name the SMS alerts come from.
        webhook_url_env: the environment variable holding the webhook's URL (read at each
            tick; unset or empty: no webhook). The URL itself is never held here.
        max_per_hour: alerts a channel sends in any hour at most, a summary included.
        runway_days: the stock alert fires when the stock will not last this many days.
        pace_days: the days of history the recent daily pace is measured over.
        ready_hour: the hour (account's time zone) by which yesterday is expected in the
            history (:mod:`~smspresto_pipeline.checks.freshness`).
        timezone: the account's time zone (the sensor takes the ``smspresto`` resource's).
    """

    numbers: tuple[str, ...]
    sender: str
    webhook_url_env: str = DEFAULT_WEBHOOK_URL_ENV
    max_per_hour: int = DEFAULT_MAX_PER_HOUR
    runway_days: float = DEFAULT_RUNWAY_DAYS
    pace_days: int = 7
    ready_hour: int = 8
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def of(
        cls,
        *,
        numbers: Sequence[str],
        sender: str,
        region: str = "CI",
        **fields: object,
    ) -> AlertSettings:
        """Checked settings: every number normalised to E.164 (``region`` reads national forms),
        the sender and the bounds checked.

        Raises:
            ValueError: naming the bad value (a number, the sender, a variable name, a bound).
        """
        if isinstance(numbers, str):
            raise ValueError(f"numbers must be a list of phone numbers, got the string {numbers!r}")
        normalised: list[str] = []
        for raw in numbers:
            try:
                normalised.append(normalize_number(raw, region))
            except ValueError as error:
                raise ValueError(f"alert number {raw!r} cannot receive SMS: {error}") from None
        try:
            validate_sender(sender)
        except ValueError as error:
            raise ValueError(f"alert sender {sender!r} cannot send: {error}") from None
        settings = cls(tuple(dict.fromkeys(normalised)), sender, **fields)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not _ENV_NAME.fullmatch(self.webhook_url_env):
            raise ValueError(
                "webhook_url_env must name an environment variable (letters, digits, _), got "
                f"{self.webhook_url_env!r}"
            )
        if self.max_per_hour < 2:
            # One alert and the summary of the held ones.
            raise ValueError(f"max_per_hour must be at least 2, got {self.max_per_hour!r}")
        if self.runway_days <= 0:
            raise ValueError(f"runway_days must be positive, got {self.runway_days!r}")
        if self.pace_days < 1:
            raise ValueError(f"pace_days must be at least 1, got {self.pace_days!r}")
        if not 0 <= self.ready_hour <= 23:
            raise ValueError(f"ready_hour must be between 0 and 23, got {self.ready_hour!r}")
