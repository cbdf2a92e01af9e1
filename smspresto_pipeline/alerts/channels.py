"""The channels an alert is told through: SMS to the operator's numbers, and a webhook.

**SMS** (:class:`SmsChannel`) go through the campaigns' own send path: each (event, number) is
claimed in the outbox under the reserved campaign ``smspresto_alerts`` (dedup_key
``<event key>|<number>``) before any request, and sent by
:func:`~smspresto_pipeline.campaigns.send.send_claimed`, each batch recorded as requested
before its request. So an alert reaches a number at most once, across ticks, processes and
crashes, and an alert whose answer was lost is ``ambiguous`` and never resent blindly
(reconciliation resolves it against the archive as any campaign's row). Each tick first
settles what an earlier tick left (:func:`~smspresto_pipeline.campaigns.settle.settle_dead_runs`:
the ticks of one sensor never overlap, so a tick owning rows is dead once another tick runs)
and sends the rows provably never sent. Two differences from a campaign, on purpose: the
circuit breaker does not stop an alert (the breaker is what it reports), and opt-outs do not
apply to the operator's own numbers (an opt-out is a customer's stop request; the operator may
well have tried a campaign's stop reply from their own phone).

**Webhook** (:class:`WebhookChannel`): a POST of Slack-compatible JSON (``{"text": ...}``).
Its URL is a credential (a Slack webhook URL lets anyone post): it is held by the channel only,
never in its repr, a log, an error, metadata or the ledger (what the server answers is redacted
of it too). A POST that provably never left (connection refused, connect timeout) is tried
again, ``attempts`` times at most, then waits for the next tick; an HTTP error status is
``failed``; a POST whose answer was lost is ``ambiguous`` and not posted again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from smspresto_pipeline.alerts.ledger import AlertLedger, Delivery, DeliveryState
from smspresto_pipeline.alerts.model import ALERTS_CAMPAIGN
from smspresto_pipeline.api.client import SMSPrestoClient
from smspresto_pipeline.api.redaction import REDACTED, Redactor, install_httpx_log_filter
from smspresto_pipeline.campaigns.send import SendReport, adopt_released, send_claimed
from smspresto_pipeline.campaigns.settle import RunStatus, settle_dead_runs
from smspresto_pipeline.sending import Outbox, OutboxMessage
from smspresto_pipeline.sms import describe_text

__all__ = ["Channel", "SmsChannel", "WebhookChannel"]

# Connection errors: the request provably never reached the server (safe to try again).
_NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Channel(Protocol):
    """A way to tell an alert; :func:`~smspresto_pipeline.alerts.delivery.tell` drives it."""

    name: str

    def prepare(self, ledger: AlertLedger, now: datetime) -> None:
        """Settle what an earlier tick left unfinished on this channel."""

    def deliver(self, deliveries: Sequence[Delivery], ledger: AlertLedger, now: datetime) -> None:
        """Tell ``deliveries`` (each ``waiting``) and record each one's new state."""


class SmsChannel:
    """SMS alerts to the operator's numbers through the outbox (module docstring).

    Args:
        client: the API client (the campaigns' account).
        outbox: the warehouse's outbox.
        numbers: the operator's numbers, E.164.
        sender: the sender name the alerts come from.
        tick_id: this tick's id: the ``run_id`` of the outbox rows it claims.
    """

    name = "sms"

    def __init__(
        self,
        client: SMSPrestoClient,
        outbox: Outbox,
        *,
        numbers: Sequence[str],
        sender: str,
        tick_id: str,
    ) -> None:
        self.client, self.outbox = client, outbox
        self.numbers, self.sender, self.tick_id = tuple(numbers), sender, tick_id

    def __repr__(self) -> str:
        return f"SmsChannel(numbers={list(self.numbers)!r}, sender={self.sender!r})"

    def _earlier_tick(self, run_id: str) -> RunStatus:
        # Ticks of one sensor never overlap: a tick other than this one is over.
        return RunStatus(over=True, label=f"an earlier alerts tick ({run_id})")

    def _send(self, messages: Sequence[OutboxMessage]) -> SendReport | None:
        if not messages:
            return None
        return send_claimed(
            self.client, self.outbox, messages, run_id=self.tick_id, honour_opt_outs=False
        )

    def prepare(self, ledger: AlertLedger, now: datetime) -> None:
        settle_dead_runs(
            self.outbox,
            status_of=self._earlier_tick,
            campaign=ALERTS_CAMPAIGN,
            now=now,
            alive=(self.tick_id,),
        )
        self._send(adopt_released(self.outbox, ALERTS_CAMPAIGN, run_id=self.tick_id))

    def deliver(self, deliveries: Sequence[Delivery], ledger: AlertLedger, now: datetime) -> None:
        messages: list[OutboxMessage] = []
        for delivery in deliveries:
            info = describe_text(delivery.short_text)
            messages.extend(
                OutboxMessage(
                    ALERTS_CAMPAIGN,
                    f"{delivery.event_key}|{number}",
                    number,
                    self.sender,
                    delivery.short_text,
                    info.segments,
                    info.encoding,
                )
                for number in self.numbers
            )
        report = self._send(self.outbox.claim(messages, run_id=self.tick_id, now=now))
        states = {k: b.state for b in (report.batches if report else ()) for k in b.dedup_keys}
        keys = [m.dedup_key for m in messages]
        existing = self.outbox.existing_keys(ALERTS_CAMPAIGN, keys)
        pending = {r.dedup_key for r in self.outbox.rows("pending", campaign=ALERTS_CAMPAIGN)}
        for delivery in deliveries:
            mine = [f"{delivery.event_key}|{number}" for number in self.numbers]
            detail = "; ".join(
                f"{key.rsplit('|', 1)[1]}: {states.get(key, 'claimed by an earlier tick')}"
                for key in mine
            )
            # Told once every number's row has left pending: sent, failed, or ambiguous (never
            # resent blindly). A row still pending was provably never sent: the next tick
            # sends it.
            told = all(key in existing and key not in pending for key in mine)
            ledger.move(
                self.name,
                delivery.event_key,
                from_state="waiting",
                state="delivered" if told else "waiting",
                now=now,
                detail=detail,
            )


class WebhookChannel:
    """Slack-compatible JSON POSTed to a webhook whose URL is a secret (module docstring).

    Args:
        url: the webhook's URL (``http`` or ``https``); never shown.
        timeout: seconds for each request.
        attempts: POSTs tried at most while the connection fails.
        transport: an httpx transport (tests of what a server cannot produce).

    Raises:
        ValueError: the URL is not an http(s) URL (the message shows its scheme only).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"the alert webhook's URL must be an http(s) URL, got one of scheme "
                f"{parts.scheme or 'none'!r} (the URL itself is a secret and is not shown)"
            )
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts!r}")
        self._url = url
        # The path holds the token (Slack's /services/T.../B.../...): scrubbed wherever it shows.
        secrets = (url, parts.path) if len(parts.path) > 1 else (url,)
        self._redact = Redactor(*secrets)
        # httpx logs every request's URL at INFO: its log is scrubbed of this one.
        install_httpx_log_filter(*secrets)
        self.timeout, self.attempts, self._transport = timeout, attempts, transport

    def __repr__(self) -> str:
        return f"WebhookChannel(url={REDACTED!r})"

    def prepare(self, ledger: AlertLedger, now: datetime) -> None:
        for delivery in ledger.in_state(self.name, "sending"):
            ledger.move(
                self.name,
                delivery.event_key,
                from_state="sending",
                state="ambiguous",
                now=now,
                detail="its POST left and its answer was never recorded (the tick stopped): "
                "not posted again",
            )

    def deliver(self, deliveries: Sequence[Delivery], ledger: AlertLedger, now: datetime) -> None:
        with httpx.Client(timeout=self.timeout, transport=self._transport) as client:
            for delivery in deliveries:
                key = delivery.event_key
                ledger.move(self.name, key, from_state="waiting", state="sending", now=now)
                state, detail = self._post(client, delivery.long_text)
                ledger.move(
                    self.name, key, from_state="sending", state=state, now=now, detail=detail
                )

    def _post(self, client: httpx.Client, text: str) -> tuple[DeliveryState, str]:
        never_left = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(0.2 * 2**attempt)
            try:
                response = client.post(self._url, json={"text": text})
            except _NEVER_LEFT as exc:
                never_left = type(exc).__name__
                continue
            except httpx.HTTPError as exc:
                return "ambiguous", (
                    f"the POST left and its answer was lost ({type(exc).__name__}): not posted "
                    "again"
                )
            if response.is_success:
                return "delivered", f"HTTP {response.status_code}"
            return "failed", (f"HTTP {response.status_code}: {self._redact.excerpt(response.text)}")
        # Provably never posted: waiting again, for the next tick.
        return "waiting", (
            f"the webhook could not be reached ({never_left}, {self.attempts} attempts): tried "
            "again at the next tick"
        )
