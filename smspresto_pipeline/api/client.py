"""SMS Presto clients: :class:`SMSPrestoClient` (sync) and :class:`AsyncSMSPrestoClient` (async).

Both are thin transports around one pure core (:mod:`smspresto_pipeline.api.core`), which
builds every request, reads every answer and decides every retry. A transport only sends what
the core built, hands back what came out (an answer or an httpx error) and sleeps when told to.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import anyio
import httpx

from smspresto_pipeline.api.core import (
    COUNTER_ACTIONS,
    DEFAULT_BASE_URL,
    USER_AGENT,
    Call,
    Core,
    EventHooks,
    Method,
    Retry,
    SendPlan,
)
from smspresto_pipeline.api.models import AccountCounters, ArchiveRecord, SendResult
from smspresto_pipeline.api.paging import ArchivePaginator
from smspresto_pipeline.errors import (
    SMSPrestoError,
)

__all__ = ["DEFAULT_BASE_URL", "USER_AGENT", "AsyncSMSPrestoClient", "SMSPrestoClient"]

_T = TypeVar("_T")
# What differs between the two clients' constructors: the kind of httpx transport they accept
# and the kind of httpx client they open.
_TransportT = TypeVar("_TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)
_HttpT = TypeVar("_HttpT", httpx.Client, httpx.AsyncClient)


class _BaseClient(Generic[_TransportT, _HttpT]):
    """The settings, core and connection pool both clients share (httpx's ``BaseClient``).

    A new setting is added here once: to ``__init__`` (its parameter and its line under
    Args) and to :class:`~smspresto_pipeline.api.core.Core` or ``Core.client_kwargs``,
    whichever uses it. Each client only says which httpx client it opens (:meth:`_open`).
    """

    def __init__(
        self,
        api_key: str,
        api_pass: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        batch_size: int = 500,
        default_region: str = "CI",
        method: Method = "POST",
        page_size: int = 500,
        transport: _TransportT | None = None,
        event_hooks: EventHooks | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """A client; nothing is sent until a method is called.

        Args:
            api_key: the account's API key (``user``).
            api_pass: the account's password (``pass``); never logged, shown or put in a URL
                unless GET is chosen.
            base_url: the API's base URL.
            timeout: per-request timeout, seconds or an ``httpx.Timeout``; always set.
            max_retries: retries after a transient failure (for a send: only when safe).
            backoff_base: the first retry waits up to this many seconds; doubles each retry.
            backoff_max: the cap of one wait; a ``Retry-After`` above it fails at once.
            batch_size: recipients per ``sendsms`` request.
            default_region: region for numbers written without an international prefix.
            method: ``"POST"`` (default: nothing secret in URLs) or ``"GET"``.
            page_size: rows asked per ``list-archive`` request.
            transport: an httpx transport (e.g. for tests): ``httpx.BaseTransport`` for the
                sync client, ``httpx.AsyncBaseTransport`` for the async one; the default opens
                real connections.
            event_hooks: httpx event hooks, passed through.
            logger: where retries are logged; defaults to the ``smspresto_pipeline`` logger.
        """
        self._core = Core(
            api_key,
            api_pass,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            batch_size=batch_size,
            default_region=default_region,
            method=method,
            page_size=page_size,
            logger=logger,
        )
        self._http: _HttpT = self._open(
            transport, Core.client_kwargs(base_url, timeout, event_hooks)
        )
        # "count" once a list-archive walk has shown that the server reads `to` as a count:
        # the later walks skip the detection's half page (see paging.py).
        self._archive_reading: Literal["unknown", "count"] = "unknown"

    def _open(self, transport: _TransportT | None, settings: dict[str, Any]) -> _HttpT:
        """The httpx client (sync or async) that carries this client's requests."""
        raise NotImplementedError

    def _paginator(self, page_size: int | None) -> ArchivePaginator:
        """A new ``list-archive`` walk, told what earlier walks proved about the server."""
        return ArchivePaginator(page_size or self._core.page_size, reading=self._archive_reading)

    def _learn(self, paginator: ArchivePaginator) -> None:
        if paginator.reading == "count":
            self._archive_reading = "count"

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return str(self._http.base_url)

    @property
    def batch_size(self) -> int:
        """Recipients per ``sendsms`` request: a send of this many or fewer is one request."""
        return self._core.batch_size

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, api_key={self._core.masked_key!r})"
        )


class SMSPrestoClient(_BaseClient[httpx.BaseTransport, httpx.Client]):
    """A synchronous SMS Presto client over ``httpx.Client`` (pooled connections).

    Example:
        .. code-block:: python

            from smspresto_pipeline import SMSPrestoClient

            with SMSPrestoClient(api_key="...", api_pass="...") as client:
                client.send_sms("Oniris", ["07 08 08 14 88"], "Bonjour !")
                for record in client.iter_archive("2024-05-01", "2024-05-01"):
                    print(record.history_id, record.status_code)

    Takes the settings of :meth:`_BaseClient.__init__`; ``transport``, if given, is an
    ``httpx.BaseTransport``.
    """

    def _open(
        self, transport: httpx.BaseTransport | None, settings: dict[str, Any]
    ) -> httpx.Client:
        return httpx.Client(transport=transport, **settings)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def _execute(self, call: Call[_T]) -> _T:
        attempt = 0
        while True:
            answer: httpx.Response | httpx.HTTPError
            try:
                answer = self._http.send(
                    self._http.build_request(**self._core.request_kwargs(call))
                )
            except httpx.HTTPError as exc:
                answer = exc
            # Settled outside the except block, so no raised error chains the original httpx
            # exception (whose request URL may hold the password).
            outcome = self._core.settle(call, attempt, answer)
            if not isinstance(outcome, Retry):
                return outcome
            time.sleep(outcome.delay)
            attempt += 1

    def _send(self, plan: SendPlan) -> SendResult:
        for call in plan.calls:
            try:
                plan.accepted.append(self._execute(call))
            except SMSPrestoError as exc:
                plan.annotate(exc)
                raise
        return plan.result()

    def send_sms(
        self,
        sender: str,
        recipients: str | Iterable[str],
        message: str,
        *,
        method: Method | None = None,
    ) -> SendResult:
        """Send one text to every recipient, ``batch_size`` recipients per request.

        Everything is validated before the first request. Raises ``SMSValidationError``
        (nothing sent), an API error, or ``AmbiguousSendError``; an error met after earlier
        batches went through says so in ``sent`` and ``not_attempted``.
        """
        return self._send(self._core.plan_sms(sender, recipients, message, method))

    def send_messages(self, sender: str, messages: Iterable[tuple[str, str]]) -> SendResult:
        """Send each ``(recipient, text)`` pair, ``batch_size`` pairs per POST request."""
        return self._send(self._core.plan_messages(sender, messages))

    def _count(self, action: str) -> int:
        return self._execute(self._core.count_call(action))

    def get_stock(self) -> int:
        """Messages left in stock (``get-stock``)."""
        return self._count("get-stock")

    def get_sent(self) -> int:
        """Messages sent (``get-send``)."""
        return self._count("get-send")

    def get_success(self) -> int:
        """Messages delivered (``get-success``)."""
        return self._count("get-success")

    def get_failed(self) -> int:
        """Messages that failed (``get-failed``)."""
        return self._count("get-failed")

    def get_contact_total(self) -> int:
        """Contacts in the account (``get-contact-total``)."""
        return self._count("get-contact-total")

    def get_group_total(self) -> int:
        """Contact groups (``get-group-total``)."""
        return self._count("get-group-total")

    def get_order_total(self) -> int:
        """Orders (``get-order-total``)."""
        return self._count("get-order-total")

    def get_bill_total(self) -> int:
        """Bills (``get-bill-total``)."""
        return self._count("get-bill-total")

    def get_scheduled_total(self) -> int:
        """Scheduled messages (``get-scheduled-total``)."""
        return self._count("get-scheduled-total")

    def get_predefined_total(self) -> int:
        """Predefined messages (``get-predefined-total``)."""
        return self._count("get-predefined-total")

    def get_counters(self) -> AccountCounters:
        """All ten counters, read one after the other."""
        taken_at = datetime.now(UTC)
        values = {name: self._count(action) for name, action in COUNTER_ACTIONS.items()}
        return AccountCounters(**values, taken_at=taken_at)

    def iter_archive_pages(
        self,
        date_from: date | str,
        date_to: date | str,
        page_size: int | None = None,
        *,
        method: Method | None = None,
        paginator: ArchivePaginator | None = None,
    ) -> Iterator[list[ArchiveRecord]]:
        """The messages created from ``date_from`` to ``date_to`` (inclusive), page by page.

        Each page holds only rows not seen before in this walk; empty pages are not yielded.
        ``paginator``: a walk of the caller's (resumed from an offset, told a reading; read its
        ``offset``, ``page_offset`` and ``proven`` as the pages come); ``page_size`` is then
        its own.
        """
        dates = self._core.archive_dates(date_from, date_to)
        paginator = paginator or self._paginator(page_size)
        while paginator.has_next_page:
            call = self._core.archive_call(dates, paginator.request_params(), method)
            rows = self._execute(call)
            page = paginator.update_state(rows)
            self._learn(paginator)
            if page:
                yield page

    def iter_archive(
        self,
        date_from: date | str,
        date_to: date | str,
        page_size: int | None = None,
        *,
        method: Method | None = None,
    ) -> Iterator[ArchiveRecord]:
        """The messages created from ``date_from`` to ``date_to`` (inclusive), one by one."""
        pages = self.iter_archive_pages(date_from, date_to, page_size, method=method)
        return itertools.chain.from_iterable(pages)


class AsyncSMSPrestoClient(_BaseClient[httpx.AsyncBaseTransport, httpx.AsyncClient]):
    """The asynchronous twin of :class:`SMSPrestoClient`, over ``httpx.AsyncClient``.

    Same arguments and methods, as coroutines and async iterators; ``get_counters`` reads
    the ten counters concurrently. Runs under asyncio or trio.

    Example:
        .. code-block:: python

            async with AsyncSMSPrestoClient(api_key="...", api_pass="...") as client:
                counters = await client.get_counters()
                async for page in client.iter_archive_pages("2024-05-01", "2024-05-01"):
                    ...
    """

    def _open(
        self, transport: httpx.AsyncBaseTransport | None, settings: dict[str, Any]
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, **settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def _execute(self, call: Call[_T]) -> _T:
        attempt = 0
        while True:
            answer: httpx.Response | httpx.HTTPError
            try:
                request = self._http.build_request(**self._core.request_kwargs(call))
                answer = await self._http.send(request)
            except httpx.HTTPError as exc:
                answer = exc
            outcome = self._core.settle(call, attempt, answer)
            if not isinstance(outcome, Retry):
                return outcome
            await anyio.sleep(outcome.delay)
            attempt += 1

    async def _send(self, plan: SendPlan) -> SendResult:
        for call in plan.calls:
            try:
                plan.accepted.append(await self._execute(call))
            except SMSPrestoError as exc:
                plan.annotate(exc)
                raise
        return plan.result()

    async def send_sms(
        self,
        sender: str,
        recipients: str | Iterable[str],
        message: str,
        *,
        method: Method | None = None,
    ) -> SendResult:
        """See :meth:`SMSPrestoClient.send_sms`."""
        return await self._send(self._core.plan_sms(sender, recipients, message, method))

    async def send_messages(self, sender: str, messages: Iterable[tuple[str, str]]) -> SendResult:
        """See :meth:`SMSPrestoClient.send_messages`."""
        return await self._send(self._core.plan_messages(sender, messages))

    async def _count(self, action: str) -> int:
        return await self._execute(self._core.count_call(action))

    async def get_stock(self) -> int:
        """Messages left in stock (``get-stock``)."""
        return await self._count("get-stock")

    async def get_sent(self) -> int:
        """Messages sent (``get-send``)."""
        return await self._count("get-send")

    async def get_success(self) -> int:
        """Messages delivered (``get-success``)."""
        return await self._count("get-success")

    async def get_failed(self) -> int:
        """Messages that failed (``get-failed``)."""
        return await self._count("get-failed")

    async def get_contact_total(self) -> int:
        """Contacts in the account (``get-contact-total``)."""
        return await self._count("get-contact-total")

    async def get_group_total(self) -> int:
        """Contact groups (``get-group-total``)."""
        return await self._count("get-group-total")

    async def get_order_total(self) -> int:
        """Orders (``get-order-total``)."""
        return await self._count("get-order-total")

    async def get_bill_total(self) -> int:
        """Bills (``get-bill-total``)."""
        return await self._count("get-bill-total")

    async def get_scheduled_total(self) -> int:
        """Scheduled messages (``get-scheduled-total``)."""
        return await self._count("get-scheduled-total")

    async def get_predefined_total(self) -> int:
        """Predefined messages (``get-predefined-total``)."""
        return await self._count("get-predefined-total")

    async def get_counters(self) -> AccountCounters:
        """All ten counters, read concurrently."""
        taken_at = datetime.now(UTC)
        values: dict[str, int] = {}
        errors: list[SMSPrestoError] = []

        async def read(name: str, action: str) -> None:
            # Kept out of the task group, which would wrap them in an ExceptionGroup: the
            # caller catches AuthenticationError, TransientError ... as from the sync client.
            try:
                values[name] = await self._count(action)
            except SMSPrestoError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as group:
            for name, action in COUNTER_ACTIONS.items():
                group.start_soon(read, name, action)
        if errors:
            raise errors[0]
        return AccountCounters(**values, taken_at=taken_at)

    async def iter_archive_pages(
        self,
        date_from: date | str,
        date_to: date | str,
        page_size: int | None = None,
        *,
        method: Method | None = None,
    ) -> AsyncIterator[list[ArchiveRecord]]:
        """See :meth:`SMSPrestoClient.iter_archive_pages`."""
        dates = self._core.archive_dates(date_from, date_to)
        paginator = self._paginator(page_size)
        while paginator.has_next_page:
            call = self._core.archive_call(dates, paginator.request_params(), method)
            rows = await self._execute(call)
            page = paginator.update_state(rows)
            self._learn(paginator)
            if page:
                yield page

    async def iter_archive(
        self,
        date_from: date | str,
        date_to: date | str,
        page_size: int | None = None,
        *,
        method: Method | None = None,
    ) -> AsyncIterator[ArchiveRecord]:
        """See :meth:`SMSPrestoClient.iter_archive`."""
        async for page in self.iter_archive_pages(date_from, date_to, page_size, method=method):
            for record in page:
                yield record
