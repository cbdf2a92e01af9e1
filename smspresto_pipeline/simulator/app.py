"""The simulator's ASGI application: the SMS Presto protocol over one endpoint.

``/console/api/`` (with or without the trailing slash) takes every action by GET (query
parameters) and by POST (form fields; ``sendsms`` also takes a form field ``data`` holding the
reference's JSON object, in both of its shapes). Errors are ``{"status": <code>, "message":
...}`` with HTTP 200, like the reference. Beyond the documented codes the simulator answers:

* ``104`` "Insufficient credit": the stock does not cover the send's segments (nothing is
  stored or billed);
* ``105`` "Unknown action": a missing or unknown ``action`` (after authentication).

Choices where the reference is silent:

* Authentication: no ``user`` (or a ``data`` field that is not a JSON object) is ``1``, an
  unknown ``user`` ``10``, a wrong or missing ``pass`` ``11``.
* ``sendsms``: the sender is a name of ASCII letters and digits (single inner spaces), at
  most 11 characters, or a number of at most 15 digits (``100`` / ``101``); every recipient
  is ``+`` and 8 to 15 digits (``102``; a ``+`` left unencoded in a URL arrives as a space
  and is refused); every text is non-blank (``103``). ``message-count`` counts messages (one
  per recipient); the stock is billed in segments (GSM-7 160/153, UCS-2 70/67).
* Counters: ``get-send`` counts archive rows; ``get-success`` / ``get-failed`` count rows
  whose status reads ``1`` / ``2`` now. They answer bare numbers as ``text/plain``.
* Statuses: a new message reads ``0`` for ``delivery_delay`` seconds, then ``1`` or ``2``
  (drawn from a hash of the seed, the send's number among the simulator's sends and the
  recipient, at ``failure_rate``: the same sends give the same statuses; old eight-digit
  Ivorian numbers always fail; an armed `Outage` fails its carrier's numbers at its own rate).
* Time: real time, or a simulated clock (``SimulatorConfig.clock``) that only `set_now` moves:
  sends are stamped with it, statuses settle by it, and seeded rows appear once it passes them.
* ``list-archive`` answers ``[]`` (or ``null`` or an empty body, per configuration) for an
  invalid ``dateFrom``/``dateTo``/``from``/``to``, as it does for an empty page; a missing
  ``to`` means "to the end". Multipart bodies are not read (the reference posts urlencoded
  forms).
"""

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from smspresto_pipeline.simulator.config import Fault, Outage, SimulatorConfig
from smspresto_pipeline.simulator.seed import carrier_of
from smspresto_pipeline.simulator.segments import count_segments
from smspresto_pipeline.simulator.store import NewMessage, Store

__all__ = ["ARCHIVE_FIELDS", "RequestRecord", "SendRecord", "SimulatorApp"]

#: The fields of a ``list-archive`` row, in the reference's order.
ARCHIVE_FIELDS: tuple[str, ...] = (
    "IDHISTORIQUE",
    "HIS_DESTINATAIRE",
    "HIS_MESSAGE",
    "HIS_STATUT",
    "HIS_NOMBRESMS",
    "HIS_DATEHEURECREA",
    "HIS_DATEHEUREENVOI",
    "IDDATEHEURE",
    "CPT_REF",
    "IDSMSFILATTENTE",
    "HIS_EXPEDITEUR",
    "NOMCONTACT",
)

_PATHS = frozenset({"/console/api/", "/console/api"})
_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_RECIPIENT = re.compile(r"\+\d{8,15}")
_NUMERIC_SENDER = re.compile(r"\+?\d+")
# ASCII letters and digits, words separated by single spaces.
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
# Ivorian numbers from before the 2021 move to ten digits: accepted, never delivered.
_OLD_IVORIAN = re.compile(r"\+225\d{8}")
_MAX_NUMERIC_SENDER = 15
_MAX_ALPHANUMERIC_SENDER = 11
_HTML_REASONS = {
    200: "OK",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}

_ERRORS = {
    1: "Authentication failed",
    10: "Invalid API key",
    11: "Invalid password",
    100: "Invalid sender",
    101: "The sender's character limit is exceeded",
    102: "Invalid recipient",
    103: "Invalid message",
    104: "Insufficient credit",
    105: "Unknown action",
}

_TOTALS = {
    "get-contact-total": "contacts",
    "get-group-total": "groups",
    "get-order-total": "orders",
    "get-bill-total": "bills",
    "get-scheduled-total": "scheduled",
    "get-predefined-total": "predefined",
}


class RequestRecord(NamedTuple):
    """One request received: its ``action`` (``""`` if none) and HTTP method."""

    action: str
    method: str


class SendRecord(NamedTuple):
    """One accepted ``sendsms``: the sender and its (recipient, message) pairs, in order."""

    sender: str
    messages: list[tuple[str, str]]


@dataclasses.dataclass(slots=True)
class _Answer:
    status_code: int
    body: bytes
    media_type: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def _json(value: object) -> _Answer:
    # Compact and unescaped, like PHP's json_encode with JSON_UNESCAPED_UNICODE.
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _Answer(200, body.encode(), _JSON)


def _error(code: int) -> _Answer:
    return _json({"status": code, "message": _ERRORS[code]})


def _html_page(status_code: int) -> _Answer:
    title = f"{status_code} {_HTML_REASONS.get(status_code, 'Error')}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return _Answer(status_code, page.encode(), _HTML)


def _text(value: object) -> str | None:
    """A JSON or form value as text (``None`` for missing, lists and objects)."""
    if value is None or isinstance(value, list | dict):
        return None
    return str(value)


class SimulatorApp:
    """The ASGI callable; also the journal of requests, sends and armed faults.

    The journal is read from other threads (the tests'), hence the lock.
    """

    def __init__(self, config: SimulatorConfig, store: Store) -> None:
        self._config = config
        self._store = store
        self._zone = ZoneInfo(config.timezone)
        self._lock = threading.Lock()
        self._faults: list[list[Any]] = [[fault, fault.count] for fault in config.faults]
        self._outages: list[Outage] = []
        self._clock: datetime | None = config.clock
        self._requests: list[RequestRecord] = []
        self._sends: list[SendRecord] = []
        # Numbers the accepted sends: their statuses are drawn from it, not from the wall
        # clock, so that a day replayed on the simulated clock fails the same messages.
        self._send_numbers = itertools.count()
        self._empty_page = config.empty_page.encode()
        self._closing = threading.Event()
        self._actions: dict[str, Callable[[Mapping[str, object]], _Answer]] = {
            "sendsms": self._send_sms,
            "list-archive": self._list_archive,
            "get-stock": self._get_stock,
            "get-send": lambda _: self._delivery_counter(0),
            "get-success": lambda _: self._delivery_counter(1),
            "get-failed": lambda _: self._delivery_counter(2),
        }
        for action, name in _TOTALS.items():
            self._actions[action] = self._total_answer(name)

    # -- journal ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of every request received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def sends(self) -> list[SendRecord]:
        """A copy of every accepted send, in order."""
        with self._lock:
            return list(self._sends)

    def add_fault(self, fault: Fault) -> None:
        """Arm ``fault`` behind those already armed."""
        with self._lock:
            self._faults.append([fault, fault.count])

    def clear_faults(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def add_outage(self, outage: Outage) -> None:
        """Arm ``outage``: live sends to its carrier fail at its rate from its start (default:
        now, on the simulator's clock)."""
        if outage.start is None:
            outage = dataclasses.replace(outage, start=self.now())
        with self._lock:
            self._outages.append(outage)

    def clear_outages(self) -> None:
        """Disarm every outage."""
        with self._lock:
            self._outages.clear()

    # -- clock -----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's time: the account's local time, naive, to the second."""
        with self._lock:
            clock = self._clock
        if clock is not None:
            return clock
        return datetime.now(self._zone).replace(tzinfo=None, microsecond=0)

    def epoch(self) -> float:
        """The simulator's time in Unix seconds (what statuses settle by)."""
        with self._lock:
            clock = self._clock
        return time.time() if clock is None else clock.replace(tzinfo=self._zone).timestamp()

    def set_now(self, at: datetime) -> int:
        """Move the simulated clock to ``at`` (local, naive) and let the seeded rows created by
        then appear; how many appeared.

        Raises:
            RuntimeError: the simulator runs on real time (no ``clock`` configured).
            ValueError: ``at`` is before the clock (ids follow creation time, which never
                goes back).
        """
        with self._lock:
            if self._clock is None:
                raise RuntimeError("the simulator runs on real time: configure a clock")
            if at.tzinfo is not None or at < self._clock:
                raise ValueError(
                    f"the clock moves forward only, in local naive time: it is "
                    f"{self._clock.isoformat()}, got {at.isoformat()}"
                )
            self._clock = at.replace(microsecond=0)
            # Under the journal's lock, so no send is stamped between the move and the release.
            return self._store.release_until(
                self._clock,
                until_epoch=self._clock.replace(tzinfo=self._zone).timestamp(),
                delay=self._config.delivery_delay,
            )

    def _take_fault(self, action: str) -> Fault | None:
        with self._lock:
            for armed in self._faults:
                fault: Fault = armed[0]
                if fault.matches(action):
                    armed[1] -= 1
                    if armed[1] <= 0:
                        self._faults.remove(armed)
                    return fault
        return None

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request."""
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if scope["path"] not in _PATHS:
            await self._reply(_html_page_404(), scope, receive, send)
            return
        if request.method not in ("GET", "POST"):
            answer = _Answer(405, b"Method Not Allowed", _TEXT, {"Allow": "GET, POST"})
            await self._reply(answer, scope, receive, send)
            return
        params = await self._params(request)
        action = _text(params.get("action")) or ""
        with self._lock:
            self._requests.append(RequestRecord(action, request.method))

        fault = self._take_fault(action)
        if fault is not None and fault.kind in ("server_error", "rate_limit", "bad_html"):
            await self._reply(_fault_answer(fault), scope, receive, send)
            return
        if fault is not None and fault.kind == "slow" and not await self._linger(fault.delay):
            await _drop_connection(send)  # the server is stopping: no answer is due any more
            return

        answer = self._answer(params, action)
        if fault is not None and fault.kind == "drop_after_send":
            await _drop_connection(send)
            return
        if fault is not None and fault.kind == "truncated_json":
            answer.body = (
                answer.body[: len(answer.body) // 2] if answer.media_type == _JSON else b""
            )
        await self._reply(answer, scope, receive, send)

    def close(self) -> None:
        """Cut short the answers still waiting (``slow`` faults): the server is stopping."""
        self._closing.set()

    async def _linger(self, seconds: float) -> bool:
        """Wait ``seconds``, unless the server stops first; whether the wait ran its course."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._closing.is_set():
                return False
            await asyncio.sleep(min(left, 0.05))
        return True

    async def _params(self, request: Request) -> dict[str, object]:
        params: dict[str, object] = dict(
            parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
        )
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            body = await request.body()
            if body and not content_type.startswith("multipart/"):
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        data = params.get("data")
        if isinstance(data, str):
            try:
                decoded = json.loads(data)
            except ValueError:
                decoded = None
            if not isinstance(decoded, dict):
                params["_malformed"] = True
            else:
                params.update(decoded)
        return params

    @staticmethod
    async def _reply(answer: _Answer, scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(
            answer.body, answer.status_code, headers=answer.headers, media_type=answer.media_type
        )
        await response(scope, receive, send)

    # -- protocol --------------------------------------------------------------------------

    def _answer(self, params: Mapping[str, object], action: str) -> _Answer:
        code = self._authenticate(params)
        if code:
            return _error(code)
        handler = self._actions.get(action)
        if handler is None:
            return _error(105)
        return handler(params)

    def _authenticate(self, params: Mapping[str, object]) -> int:
        user = _text(params.get("user"))
        password = _text(params.get("pass"))
        if params.get("_malformed") or not user:
            return 1
        if not hmac.compare_digest(user.encode(), self._config.api_key.encode()):
            return 10
        if password is None or not hmac.compare_digest(
            password.encode(), self._config.api_pass.encode()
        ):
            return 11
        return 0

    def _send_sms(self, params: Mapping[str, object]) -> _Answer:
        sender = (_text(params.get("from")) or "").strip()
        code = _sender_error(sender)
        if code:
            return _error(code)
        pairs = _recipients(params.get("to"), _text(params.get("message")))
        if not pairs or any(_RECIPIENT.fullmatch(recipient) is None for recipient, _ in pairs):
            return _error(102)
        if any(not message or not message.strip() for _, message in pairs):
            return _error(103)

        created = self.now()
        with self._lock:
            outages = [o for o in self._outages if o.start is None or o.start <= created]
            stamp = next(self._send_numbers)
        messages: list[NewMessage] = [
            (
                recipient,
                message,
                count_segments(message),
                self._final_status(recipient, stamp, i, outages),
            )
            for i, (recipient, message) in enumerate(pairs)
            if message is not None
        ]
        stored = self._store.record_send(
            sender,
            messages,
            created_at=created,
            sent_at=created + timedelta(seconds=1),
            settle_at=self.epoch() + self._config.delivery_delay,
        )
        if not stored:
            return _error(104)
        with self._lock:
            self._sends.append(SendRecord(sender, [(m[0], m[1]) for m in messages]))
        return _json(
            {"status": 0, "message": "Message sent successfully.", "message-count": len(messages)}
        )

    def _final_status(self, recipient: str, stamp: int, index: int, outages: list[Outage]) -> str:
        if _OLD_IVORIAN.fullmatch(recipient):
            return "2"
        key = f"{self._config.seed}:{stamp}:{index}:{recipient}".encode()
        draw = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64
        rate = self._config.failure_rate
        carrier = carrier_of(recipient) if outages else None
        for outage in outages:
            if outage.carrier == carrier:
                rate = max(rate, outage.failure_rate)
        return "2" if draw < rate else "1"

    def _list_archive(self, params: Mapping[str, object]) -> _Answer:
        date_from = _text(params.get("dateFrom")) or None
        date_to = _text(params.get("dateTo")) or None
        start = _integer(params.get("from"), default=0)
        end = _integer(params.get("to"), default=None)
        if (
            any(d is not None and not _valid_day(d) for d in (date_from, date_to))
            or start is None
            or (end is None and params.get("to") not in (None, ""))
        ):
            return self._empty()
        limit = end
        if end is not None and self._config.paging == "range":
            limit = max(0, end - start)
        if self._config.max_page_size is not None:
            limit = min(limit if limit is not None else self._config.max_page_size,
                        self._config.max_page_size)  # fmt: skip
        if limit == 0:
            return self._empty()
        rows = self._store.archive_page(
            date_from, date_to, offset=start, limit=limit, now=self.epoch()
        )
        if not rows:
            return self._empty()
        return _json([dict(zip(ARCHIVE_FIELDS, row, strict=True)) for row in rows])

    def _empty(self) -> _Answer:
        return _Answer(200, self._empty_page, _JSON)

    def _get_stock(self, _: Mapping[str, object]) -> _Answer:
        return _Answer(200, str(self._store.account().stock).encode(), _TEXT)

    def _delivery_counter(self, index: int) -> _Answer:
        value = self._store.delivery_counters(self.epoch())[index]
        return _Answer(200, str(value).encode(), _TEXT)

    def _total_answer(self, name: str) -> Callable[[Mapping[str, object]], _Answer]:
        def answer(_: Mapping[str, object]) -> _Answer:
            return _json({"TOTAL": str(getattr(self._store.account(), name))})

        return answer


def _html_page_404() -> _Answer:
    return _Answer(404, b"<html><body><h1>404 Not Found</h1></body></html>", _HTML)


def _fault_answer(fault: Fault) -> _Answer:
    if fault.kind == "rate_limit":
        answer = _html_page(fault.http_status or 429)
        answer.headers["Retry-After"] = f"{fault.retry_after:g}"
        return answer
    default = 503 if fault.kind == "server_error" else 200
    return _html_page(fault.http_status or default)


async def _drop_connection(send: Send) -> None:
    """Close the connection without an answer.

    ASGI has no message for this, so reach uvicorn's transport through its ``send`` (a bound
    method of the request cycle), then yield until uvicorn has seen the disconnection, lest it
    answer 500 on the app's behalf.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("drop_after_send needs uvicorn's HTTP protocol")
    transport.close()
    for _ in range(100):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)


def _sender_error(sender: str) -> int:
    if _NUMERIC_SENDER.fullmatch(sender):
        return 101 if len(sender.lstrip("+")) > _MAX_NUMERIC_SENDER else 0
    if not sender or _ALPHANUMERIC_SENDER.fullmatch(sender) is None:
        return 100
    return 101 if len(sender) > _MAX_ALPHANUMERIC_SENDER else 0


def _recipients(to: object, message: str | None) -> list[tuple[str, str | None]]:
    """The (recipient, message) pairs of a send, from either shape of ``to``."""
    if isinstance(to, str):
        return [(part.strip(), message) for part in to.split(",") if part.strip()]
    if not isinstance(to, list):
        return []
    pairs: list[tuple[str, str | None]] = []
    for entry in to:
        if isinstance(entry, dict):
            own = _text(entry.get("message"))
            pairs.append(((_text(entry.get("recipient")) or "").strip(), own or message))
        else:
            pairs.append(("", message))
    return pairs


def _integer(value: object, *, default: int | None) -> int | None:
    text = _text(value)
    if text is None or text == "":
        return default
    return int(text) if text.isdigit() else None


def _valid_day(text: str) -> bool:
    if _DAY.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
