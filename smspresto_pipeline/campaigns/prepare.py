"""From a campaign query's result to the messages a send job will send, and why rows are not.

:func:`prepare_batch` takes the Arrow table a DuckDB query returns
(``con.sql(sql).to_arrow_table()``: columnar, no row objects built by DuckDB) and gives
a :class:`PreparedBatch`:

* batch-level problems stop everything before any send, raising ``SMSValidationError``: a
  column the campaign needs is missing (``recipient``, ``dedup_key`` or one the template
  reads), or the template reaches for something the sandbox forbids;
* row-level problems skip that row alone, with a reason (:data:`SkipReason`), and never block
  the others: no ``dedup_key``, a ``dedup_key`` seen earlier in the batch (the first row keeps
  it), no or an invalid number, a row the template cannot render (a NULL printed, a division
  by zero ...), an empty text, a text longer than the campaign's ``max_segments``.

It sends nothing and reads nothing: caps, opt-outs and the outbox are the sensor's and the
job's business. :func:`batch_run_key` names a batch for Dagster's ``run_key``, and
:func:`mask_number` hides most of a number in previews.

Example:
    >>> import pyarrow as pa
    >>> from smspresto_pipeline.campaigns.model import Campaign
    >>> campaign = Campaign(name="welcome", sql="...", template="Bienvenue {{ name }} !",
    ...                     sender="MaBoutique")
    >>> rows = pa.table({"recipient": ["07 08 08 14 88", "12"], "dedup_key": ["a", "b"],
    ...                  "name": ["Awa", "Koffi"]})
    >>> batch = prepare_batch(campaign, rows)
    >>> [(m.recipient, m.message) for m in batch.messages]
    [('+2250708081488', 'Bienvenue Awa !')]
    >>> batch.skipped_by_reason()
    {'invalid_number': 1}
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import hashlib
import json
from collections.abc import Iterable
from typing import Literal

import phonenumbers
import pyarrow as pa
from jinja2.exceptions import SecurityError

from smspresto_pipeline.campaigns.model import REQUIRED_COLUMNS, Campaign
from smspresto_pipeline.campaigns.render import encode_text
from smspresto_pipeline.errors import SMSValidationError
from smspresto_pipeline.sending.outbox import OutboxMessage
from smspresto_pipeline.sms.numbering import normalize_numbers

__all__ = [
    "PreparedBatch",
    "PreparedMessage",
    "SkipReason",
    "SkippedRow",
    "batch_run_key",
    "check_columns",
    "mask_number",
    "prepare_batch",
]

#: Why a row is not sent.
SkipReason = Literal[
    "missing_dedup_key",
    "duplicate_dedup_key",
    "missing_recipient",
    "invalid_number",
    "render_error",
    "empty_message",
    "too_long",
]


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedMessage(OutboxMessage):
    """One message ready for the outbox (it is an :class:`OutboxMessage`): checked, rendered
    and counted. ``message`` is the text after smart encoding, when the campaign asks for it.

    Attributes:
        segments_saved: the parts smart encoding saved on this message (0 without it).
    """

    segments_saved: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class SkippedRow:
    """A row that is not sent, and why.

    Attributes:
        campaign: the campaign's name.
        dedup_key: the row's ``dedup_key`` as text, ``None`` when it had none.
        recipient: the row's number as written (not normalised), ``None`` when it had none.
        reason: the kind of problem (:data:`SkipReason`), for counting.
        detail: what exactly is wrong, in a sentence.
    """

    campaign: str
    dedup_key: str | None
    recipient: str | None
    reason: SkipReason
    detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedBatch:
    """The outcome of :func:`prepare_batch`: what would be sent and what is skipped.

    Attributes:
        campaign: the campaign's name.
        rows: the rows the query returned.
        messages: the messages to send, in the query's order.
        skipped: the rows not sent, in the query's order.
    """

    campaign: str
    rows: int
    messages: tuple[PreparedMessage, ...]
    skipped: tuple[SkippedRow, ...]

    @property
    def segments(self) -> int:
        """The SMS parts the messages are billed as, together."""
        return sum(message.segments for message in self.messages)

    @property
    def segments_saved(self) -> int:
        """The SMS parts smart encoding saved, together."""
        return sum(message.segments_saved for message in self.messages)

    def skipped_by_reason(self) -> dict[str, int]:
        """How many rows each reason skipped (reasons that skipped none are left out)."""
        return dict(collections.Counter(row.reason for row in self.skipped))

    def run_key(self) -> str:
        """:func:`batch_run_key` of the messages' ``dedup_key``s."""
        return batch_run_key(self.campaign, (message.dedup_key for message in self.messages))

    def preview(self, limit: int = 5) -> list[dict[str, object]]:
        """The first ``limit`` messages with their numbers masked, for run metadata and logs."""
        return [
            {
                "recipient": mask_number(message.recipient),
                "message": message.message,
                "segments": message.segments,
                "encoding": message.encoding,
            }
            for message in self.messages[:limit]
        ]


def check_columns(campaign: Campaign, columns: Iterable[str]) -> None:
    """Refuse a query result that lacks a column the campaign needs, before any row is used.

    Raises:
        SMSValidationError: listing every missing column (``problems`` has one line each) and
            the columns the query does return.
    """
    have = list(columns)
    problems = [
        f"the query returns no column {name!r}: every campaign query must return it"
        for name in REQUIRED_COLUMNS
        if name not in have
    ]
    for name in campaign.compiled_template.missing_columns(have):
        near = difflib.get_close_matches(name, have, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        problems.append(f"the template reads {name!r}, which the query does not return{hint}")
    if problems:
        raise SMSValidationError(
            f"campaign {campaign.name!r}: {'; '.join(problems)}. The query returns: "
            f"{', '.join(have) or 'no columns'}",
            problems=tuple(problems),
        )


def _text(value: object) -> str | None:
    """A key or number cell as text; ``None`` when NULL or blank."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def prepare_batch(campaign: Campaign, table: pa.Table) -> PreparedBatch:
    """Check, render and count every row of a campaign query's result.

    Args:
        campaign: the campaign.
        table: the query's result, e.g. ``con.sql(campaign.sql).to_arrow_table()``.

    Raises:
        SMSValidationError: for a problem of the whole batch (a missing column, a template the
            sandbox stops): nothing of the batch may be sent.
    """
    check_columns(campaign, table.column_names)
    variables = sorted(campaign.compiled_template.variables)
    # Column by column into Python lists: far cheaper than a dict per row from Arrow.
    keys = table.column("dedup_key").to_pylist()
    numbers = [_text(value) for value in table.column("recipient").to_pylist()]
    # Every number at once (columnar for the common forms); a blank one's error is not used.
    recipients = normalize_numbers([raw or "" for raw in numbers], campaign.default_region)
    values = {name: table.column(name).to_pylist() for name in variables}
    name = campaign.name

    messages: list[PreparedMessage] = []
    skipped: list[SkippedRow] = []
    seen: set[str] = set()
    for index in range(table.num_rows):
        key, raw = _text(keys[index]), numbers[index]
        if key is None:
            outcome: PreparedMessage | tuple[SkipReason, str] = (
                "missing_dedup_key",
                "the row's dedup_key is NULL or blank",
            )
        elif key in seen:
            outcome = ("duplicate_dedup_key", f"dedup_key {key!r} appears earlier in the batch")
        else:
            seen.add(key)
            row = {variable: values[variable][index] for variable in variables}
            outcome = _prepare_row(campaign, key, raw, recipients[index], row)
        if isinstance(outcome, PreparedMessage):
            messages.append(outcome)
        else:
            skipped.append(SkippedRow(name, key, raw, *outcome))
    return PreparedBatch(
        campaign=name, rows=table.num_rows, messages=tuple(messages), skipped=tuple(skipped)
    )


def _prepare_row(
    campaign: Campaign,
    key: str,
    raw: str | None,
    recipient: str | SMSValidationError,
    row: dict[str, object],
) -> PreparedMessage | tuple[SkipReason, str]:
    """One row's message, or why it is skipped (``recipient``: its number normalised, or why
    it cannot be)."""
    if raw is None:
        return "missing_recipient", "the row's recipient is NULL or blank"
    if isinstance(recipient, SMSValidationError):
        return "invalid_number", str(recipient)
    try:
        rendered = campaign.compiled_template.render(row)
    except SecurityError as exc:
        raise SMSValidationError(
            f"campaign {campaign.name!r}: the template does something the sandbox forbids: {exc}"
        ) from None
    except Exception as exc:  # one row's values must never stop the others
        return "render_error", f"the template cannot render this row: {exc}"
    if not rendered.strip():
        return "empty_message", "the rendered text is empty"
    text, info, saved = encode_text(rendered, smart_encoding=campaign.smart_encoding)
    if info.segments > campaign.max_segments:
        return "too_long", (
            f"the text takes {info.segments} SMS parts ({info.length} {info.encoding} units): "
            f"the campaign allows {campaign.max_segments}"
        )
    return PreparedMessage(
        campaign.name, key, recipient, campaign.sender, text, info.segments, info.encoding, saved
    )


def batch_run_key(campaign: str, dedup_keys: Iterable[str]) -> str:
    """A stable name for a batch: the same campaign and keys give the same key, in any order.

    Used as Dagster's ``run_key``, so a tick that finds the same batch again requests no second
    run. The keys are hashed (sha256) with the campaign's name; the count is shown for people.

    Example:
        >>> batch_run_key("welcome", ["b", "a"]) == batch_run_key("welcome", ["a", "b", "a"])
        True
    """
    unique = sorted(set(dedup_keys))
    digest = hashlib.sha256(
        json.dumps([campaign, unique], ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    return f"{campaign}-{len(unique)}-{digest[:32]}"


def _mask_digits(digits: str) -> str:
    if len(digits) < 6:
        return "*" * max(len(digits) - 2, 0) + digits[-2:]
    middle = len(digits) - 4
    stars = " ".join("*" * min(2, middle - i) for i in range(0, middle, 2))
    return f"{digits[:2]} {stars} {digits[-2:]}"


def mask_number(number: str) -> str:
    """``number`` with all but its country code and first and last two digits hidden.

    Example:
        >>> mask_number("+2250708081488")
        '+225 07 ** ** ** 88'
    """
    text = number.strip()
    if text.startswith("+"):
        try:
            parsed = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            pass
        else:
            national = phonenumbers.national_significant_number(parsed)
            return f"+{parsed.country_code} {_mask_digits(national)}"
    return _mask_digits("".join(ch for ch in text if ch.isdigit()))
