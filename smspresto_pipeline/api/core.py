"""The client core: every decision of the SMS Presto clients, and no I/O.

:class:`Core` builds every request, reads every answer and decides every retry; the sync and
async clients (:mod:`smspresto_pipeline.api.client`) only send what it built, hand back what
came out (an answer or an httpx error) and sleep when told to (the h11/httpcore pattern).

The rules the core applies (docs/architecture.md §3):

* POST by default, so that the password never sits in a URL; GET on request.
* Reads (counters, ``list-archive``) are retried on transient failures (5xx, 429, timeouts,
  connection errors, answers in no documented shape) with capped exponential backoff and full
  jitter, honouring ``Retry-After``.
* A send is retried only when the request provably never left (httpx ``ConnectError``,
  ``ConnectTimeout``, ``PoolTimeout``) or the server refused it unprocessed (429). Any other
  failure once the request may have left raises :class:`AmbiguousSendError`, never a resend.
"""

from __future__ import annotations

import collections
import email.utils
import importlib.metadata
import json
import logging
import operator
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Generic, Literal, TypeVar

import httpx
import orjson

from smspresto_pipeline.api.models import SendResult
from smspresto_pipeline.api.redaction import Redactor, install_httpx_log_filter, mask
from smspresto_pipeline.errors import (
    AmbiguousSendError,
    ProtocolError,
    SMSPrestoError,
    SMSValidationError,
    TransientError,
    error_for_status,
)
from smspresto_pipeline.sms import (
    normalize_number,
    normalize_recipients,
    validate_message,
    validate_sender,
)
from smspresto_pipeline.wording import plural

# The clients' shared machinery is public within the api package (client.py uses it); the
# package itself re-exports only the two constants.
__all__ = [
    "COUNTER_ACTIONS",
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "Accepted",
    "Call",
    "Core",
    "EventHooks",
    "Method",
    "Retry",
    "SendPlan",
]

DEFAULT_BASE_URL = "https://smspresto.com/console/api/"


def _version() -> str:
    try:
        return importlib.metadata.version("smspresto-pipeline")
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0+unknown"


USER_AGENT = f"smspresto-pipeline/{_version()}"

Method = Literal["POST", "GET"]
EventHooks = Mapping[str, list[Callable[..., Any]]]

_T = TypeVar("_T")

_HISTORY_ID = operator.itemgetter("IDHISTORIQUE")

_log = logging.getLogger("smspresto_pipeline")

# Account counters: our name -> the API action. The first four answer a bare number, the
# others {"TOTAL": "<digits>"}; one parser reads both.
COUNTER_ACTIONS: dict[str, str] = {
    "stock": "get-stock",
    "sent": "get-send",
    "success": "get-success",
    "failed": "get-failed",
    "contacts": "get-contact-total",
    "groups": "get-group-total",
    "orders": "get-order-total",
    "bills": "get-bill-total",
    "scheduled": "get-scheduled-total",
    "predefined": "get-predefined-total",
}

# httpx errors raised before a single byte of the request was written: the server cannot
# have seen the request, so even a send may be retried.
_NEVER_SENT_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Raised before sending too, but a retry cannot help (a base URL that is not http/https).
_NEVER_SENT_FINAL = (httpx.UnsupportedProtocol,)
# Worth retrying for a read: the network or the server had a bad moment.
_READ_RETRYABLE = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
    httpx.DecodingError,
)


@dataclass(frozen=True, slots=True)
class Call(Generic[_T]):
    """One API request to make: what to send, how to read the answer, how to treat failure."""

    action: str
    method: Method
    params: Mapping[str, object]
    parse: Callable[[str, httpx.Response], _T]
    #: The recipients of a send (``None`` for a read): sends follow the stricter retry rule.
    batch: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """The core's verdict that the call should be made again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class Accepted:
    """A ``sendsms`` answer with status 0."""

    message_count: int
    api_message: str


@dataclass(slots=True)
class SendPlan:
    """The batches of one send, and how far the send got: shared by both transports."""

    calls: list[Call[Accepted]]
    recipients: tuple[str, ...]
    accepted: list[Accepted] = field(default_factory=list)

    def result(self) -> SendResult:
        return SendResult(
            message_count=sum(a.message_count for a in self.accepted),
            api_message=self.accepted[-1].api_message,
            recipients=self.recipients,
            batches=len(self.calls),
        )

    def annotate(self, exc: SMSPrestoError) -> None:
        """Record on ``exc`` which recipients were sent and which were never attempted."""
        done = len(self.accepted)
        exc.sent = tuple(r for call in self.calls[:done] for r in call.batch or ())
        exc.not_attempted = tuple(r for call in self.calls[done + 1 :] for r in call.batch or ())
        if len(self.calls) > 1:
            exc.args = (
                f"{exc.args[0]} [batch {done + 1} of {len(self.calls)}: "
                f"{plural(len(exc.sent), 'recipient')} sent before it, "
                f"{len(exc.not_attempted)} not attempted]",
            )


class Core:
    """Everything both clients share: configuration, requests, parsing, retry policy."""

    def __init__(
        self,
        api_key: str,
        api_pass: str,
        *,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        batch_size: int,
        default_region: str,
        method: Method,
        page_size: int,
        logger: logging.Logger | None,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("page_size", page_size)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if backoff_base < 0 or backoff_max < 0:
            raise ValueError(
                f"backoff_base and backoff_max must not be negative, "
                f"got {backoff_base} and {backoff_max}"
            )
        if method not in ("POST", "GET"):
            raise ValueError(f"method must be 'POST' or 'GET', got {method!r}")
        if not api_key or not api_pass:
            raise ValueError("api_key and api_pass must not be empty")
        self._credentials = {"user": api_key, "pass": api_pass}
        self.redact = Redactor(api_key, api_pass)
        self.masked_key = mask(api_key)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.batch_size = batch_size
        self.default_region = default_region
        self.method: Method = method
        self.page_size = page_size
        self.log = logger or _log
        self._random = random.Random()  # noqa: S311 - jitter, not cryptography
        install_httpx_log_filter()

    # -- transport settings --------------------------------------------------------------

    @staticmethod
    def client_kwargs(
        base_url: str, timeout: float | httpx.Timeout, event_hooks: EventHooks | None
    ) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "timeout": timeout,
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json, text/plain"},
            "limits": httpx.Limits(max_connections=20, max_keepalive_connections=10),
            "follow_redirects": False,
            "event_hooks": event_hooks,
        }

    # -- building calls --------------------------------------------------------------------

    def request_kwargs(self, call: Call[Any]) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client.build_request``: credentials added here only."""
        fields = {**self._credentials, "action": call.action, **call.params}
        if call.method == "GET":
            return {"method": "GET", "url": "", "params": fields}
        if call.action == "sendsms":
            # The reference posts sendsms as one form field `data` holding a JSON object.
            return {"method": "POST", "url": "", "data": {"data": json.dumps(fields)}}
        return {"method": "POST", "url": "", "data": fields}

    def count_call(self, action: str, method: Method | None = None) -> Call[int]:
        return Call(action, method or self.method, {}, self.parse_count)

    def archive_call(
        self, dates: tuple[str, str], page: Mapping[str, str], method: Method | None
    ) -> Call[list[Mapping[str, Any]]]:
        params = {"dateFrom": dates[0], "dateTo": dates[1], **page}
        return Call("list-archive", method or self.method, params, self.parse_archive)

    @staticmethod
    def archive_dates(date_from: date | str, date_to: date | str) -> tuple[str, str]:
        """``dateFrom``/``dateTo`` as ``YYYY-MM-DD``, checked before any request."""
        days = tuple(_as_day(value) for value in (date_from, date_to))
        if days[0] > days[1]:
            raise ValueError(f"date_from {days[0]} is after date_to {days[1]}")
        return days[0].isoformat(), days[1].isoformat()

    def plan_sms(
        self, sender: str, recipients: str | Iterable[str], message: str, method: Method | None
    ) -> SendPlan:
        """Validate a one-text send and split it into batches; raises before any request."""
        problems: list[str] = []
        sender = _checked(problems, validate_sender, sender)
        _checked(problems, validate_message, message)
        listed = [recipients] if isinstance(recipients, str) else recipients
        numbers = _checked(problems, normalize_recipients, listed, self.default_region)
        _raise_problems(problems)
        how = method or self.method
        calls = []
        for batch in _batched(numbers, self.batch_size):
            params: dict[str, object]
            if how == "GET":
                params = {"from": sender, "to": ",".join(batch), "message": message}
            else:
                to = [{"recipient": number} for number in batch]
                params = {"from": sender, "message": message, "to": to}
            calls.append(Call("sendsms", how, params, self.parse_send, batch))
        return SendPlan(calls, numbers)

    def plan_messages(self, sender: str, messages: Iterable[tuple[str, str]]) -> SendPlan:
        """Validate a one-text-per-recipient send and split it into batches (always POST:
        a GET query string cannot carry a text per recipient)."""
        pairs = list(messages)
        problems: list[str] = []
        sender = _checked(problems, validate_sender, sender)
        for index, (_, text) in enumerate(pairs):
            text_problems: list[str] = []
            _checked(text_problems, validate_message, text)
            problems.extend(f"message {index}: {p}" for p in text_problems)
        # One normalisation per distinct number (a phonenumbers parse each: the bulk of a
        # campaign's validation); normalize_recipients words the error when one is bad.
        e164: dict[str, str] = {}
        try:
            for raw, _ in pairs:
                if raw not in e164:
                    e164[raw] = normalize_number(raw, self.default_region)
        except SMSValidationError:
            e164.clear()
        if not e164:
            _checked(problems, normalize_recipients, [raw for raw, _ in pairs], self.default_region)
        _raise_problems(problems)
        resolved = [(e164[raw], text) for raw, text in pairs]
        calls = []
        for batch in _batched(resolved, self.batch_size):
            to = [{"recipient": number, "message": text} for number, text in batch]
            numbers = tuple(number for number, _ in batch)
            calls.append(
                Call("sendsms", "POST", {"from": sender, "to": to}, self.parse_send, numbers)
            )
        return SendPlan(calls, tuple(dict.fromkeys(number for number, _ in resolved)))

    # -- reading answers ---------------------------------------------------------------------

    def parse_count(self, action: str, response: httpx.Response) -> int:
        """A counter: a bare number (text or JSON, maybe a string) or ``{"TOTAL": "<n>"}``."""
        body = self._json_body(action, response, allow_text_number=True)
        if isinstance(body, dict) and "TOTAL" in body:
            body = body["TOTAL"]
        number = _as_int(body)
        if number is None:
            raise self._protocol_error(action, response, "expected a number")
        return number

    def parse_send(self, action: str, response: httpx.Response) -> Accepted:
        """A ``sendsms`` answer: ``{"status": 0, "message": ..., "message-count": n}``."""
        body = self._json_body(action, response)
        count = _as_int(body.get("message-count")) if isinstance(body, dict) else None
        if count is None:
            raise self._protocol_error(action, response, "expected a sendsms status")
        return Accepted(count, str(body.get("message") or ""))

    def parse_archive(self, action: str, response: httpx.Response) -> list[Mapping[str, Any]]:
        """A ``list-archive`` page: a JSON array of rows; an empty body, ``[]`` or ``null``
        when there is nothing (more)."""
        content = response.content
        if not content or content.isspace():
            self._check_http(action, response)
            return []
        body = self._json_body(action, response)
        if body is None:
            return []
        if not isinstance(body, list):
            raise self._protocol_error(action, response, "expected an array of rows")
        try:
            # Every row must be an object with its id (the paginator keys on it). Looking the
            # ids up in C (map, itemgetter) keeps the check cheap on 100,000-row archives.
            collections.deque(map(_HISTORY_ID, body), maxlen=0)
        except (TypeError, KeyError):
            raise self._protocol_error(action, response, "expected rows with an id") from None
        return body

    def _json_body(
        self, action: str, response: httpx.Response, *, allow_text_number: bool = False
    ) -> Any:
        """The decoded body of a 2xx answer, after turning error answers into exceptions."""
        self._check_http(action, response)
        try:
            body = _loads(response.content)
        except ValueError:
            text = response.text.strip()
            if allow_text_number and _as_int(text) is not None:
                return text
            raise self._protocol_error(action, response, "not JSON") from None
        self._raise_for_api_status(action, response, body)
        return body

    def _check_http(self, action: str, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(
                f"SMS Presto answered {action} with HTTP {status}: "
                f"{self.redact.excerpt(response.text)!r}",
                retry_after=_retry_after(response) if status == 429 else None,
                action=action,
                http_status=status,
            )
        if 200 <= status < 300:
            return
        # A 3xx/4xx may still carry the API's own error object: prefer its code.
        try:
            body = _loads(response.content)
        except ValueError:
            body = None
        self._raise_for_api_status(action, response, body)
        raise self._protocol_error(action, response, f"unexpected HTTP {status}")

    @staticmethod
    def _raise_for_api_status(action: str, response: httpx.Response, body: object) -> None:
        if not isinstance(body, dict) or "status" not in body:
            return
        code = _as_int(body["status"])
        if not code:
            return
        message = body.get("message")
        raise error_for_status(
            code,
            None if message is None else str(message),
            action=action,
            http_status=response.status_code,
        )

    def _protocol_error(self, action: str, response: httpx.Response, why: str) -> ProtocolError:
        return ProtocolError(
            f"SMS Presto answered {action} in an undocumented shape ({why}): "
            f"{self.redact.excerpt(response.text)!r}",
            action=action,
            http_status=response.status_code,
        )

    # -- deciding what happens next ----------------------------------------------------------

    def settle(
        self, call: Call[_T], attempt: int, answer: httpx.Response | httpx.HTTPError
    ) -> _T | Retry:
        """Read an answer (or a transport error) into a result, a retry, or an exception.

        ``attempt`` counts from 0. Raises the error the caller should see.
        """
        failure: SMSPrestoError
        if isinstance(answer, httpx.Response):
            try:
                return call.parse(call.action, answer)
            except (TransientError, ProtocolError) as exc:
                failure = exc
            status = answer.status_code
            if 300 <= status < 500 and status != 429:
                # Refused without an API error code (a wrong URL, a proxy): asking again
                # would get the same answer, and for a send nothing was processed.
                raise failure
            if call.batch is not None and status != 429:
                # A 5xx, or a 2xx we cannot read: the server may well have sent the SMS.
                # (A 429 is a refusal before any processing: a send may retry it.)
                raise self._ambiguous(call, failure) from failure
        else:
            failure = self._transport_failure(call, answer)
        if attempt >= self.max_retries:
            raise failure
        retry_after = failure.retry_after if isinstance(failure, TransientError) else None
        delay = self._backoff(attempt, retry_after)
        if delay is None:
            raise failure
        self.log.warning(
            "SMS Presto %s failed, retry %d of %d in %.2fs: %s",
            call.action,
            attempt + 1,
            self.max_retries,
            delay,
            failure,
        )
        return Retry(delay)

    def _transport_failure(self, call: Call[Any], error: httpx.HTTPError) -> SMSPrestoError:
        """The error for an httpx failure, with any URL in httpx's text redacted.

        Returns a retryable error; raises when no retry is allowed.
        """
        detail = f"{type(error).__name__}: {self.redact(str(error)) or 'no detail'}"
        # httpx errors carry the request (its URL holds the password on GET): chain a copy
        # that holds only the redacted text.
        cause = type(error)(self.redact(str(error)))
        if isinstance(error, _NEVER_SENT_FINAL):
            final = SMSPrestoError(f"cannot send {call.action}: {detail}", action=call.action)
            raise final from cause
        if call.batch is not None and not isinstance(error, _NEVER_SENT_RETRYABLE):
            raise self._ambiguous(call, SMSPrestoError(detail)) from cause
        if call.batch is None and not isinstance(error, _READ_RETRYABLE):
            raise SMSPrestoError(f"{call.action} failed: {detail}", action=call.action) from cause
        failure = TransientError(f"{call.action} failed: {detail}", action=call.action)
        failure.__cause__ = cause
        return failure

    @staticmethod
    def _ambiguous(call: Call[Any], failure: SMSPrestoError) -> AmbiguousSendError:
        batch = call.batch or ()
        return AmbiguousSendError(
            f"sendsms to {plural(len(batch), 'recipient')} may or may not have been accepted "
            f"({failure.args[0] if failure.args else failure}); check the archive before "
            "sending again",
            recipients=batch,
            action=call.action,
            http_status=failure.http_status,
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        """Full-jitter exponential backoff; ``None`` when the server asks for a longer wait
        than ``backoff_max`` (better to fail now and let the scheduler come back later)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(attempt, 32))
        jitter = self._random.uniform(0, ceiling)
        if retry_after is None:
            return jitter
        if retry_after > self.backoff_max:
            return None
        return max(retry_after, jitter)


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _loads(content: bytes) -> Any:
    """JSON from an answer's bytes: orjson, about twice as fast on archive pages, then the
    standard library for what orjson refuses and it accepts (a byte-order mark, UTF-16, NaN).
    Raises ``ValueError`` when neither can read it. (orjson reads an integer beyond 64 bits as
    a float; the API's numbers are counters and ids far below that, most of them quoted.)"""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _as_int(value: object) -> int | None:
    """An API number: an int, or a string of digits (the API quotes many of its numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return None


def _as_day(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected a date or 'YYYY-MM-DD', got {value!r}") from None


def _batched(items: Sequence[_T], size: int) -> Iterator[tuple[_T, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def _checked(problems: list[str], check: Callable[..., _T], *args: Any) -> _T:
    """``check(*args)``, or, when it raises ``SMSValidationError``, its problems noted and a
    placeholder returned: every problem is collected before one error is raised."""
    try:
        return check(*args)
    except SMSValidationError as exc:
        problems.extend(exc.problems)
        return None  # type: ignore[return-value]


def _raise_problems(problems: list[str]) -> None:
    if not problems:
        return
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise SMSValidationError(f"nothing sent: {problems[0]}{more}", problems=tuple(problems))
