-- The alerting sensor's ledger: one row per (channel, event), written when the event is first
-- seen, so an event is told once per channel whatever the ticks, processes and crashes, and an
-- event held by the rate limit waits here (never lost) until the channel's hour has room.
--   channel      sms | webhook
--   event_key    the event's stable key (breaker-trip:..., run-failed:<run id>, ...)
--   state        waiting    to tell (new, or held by the rate limit)
--                sending    a webhook POST was made and its answer is not recorded yet
--                delivered  told (SMS: every number's outbox row is final or ambiguous)
--                failed     the channel refused it (a webhook's HTTP error status)
--                ambiguous  a webhook POST whose answer was lost: never posted again blindly
--   detail       what the channel answered (never the webhook's URL)
-- The SMS themselves are outbox rows of campaign smspresto_alerts (dedup_key <event>|<number>).
-- Times are UTC.
CREATE TABLE IF NOT EXISTS smspresto.alert_deliveries (
    channel VARCHAR NOT NULL,
    event_key VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    short_text VARCHAR NOT NULL,
    long_text VARCHAR NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'waiting'
        CHECK (state IN ('waiting', 'sending', 'delivered', 'failed', 'ambiguous')),
    detail VARCHAR,
    created_at TIMESTAMP NOT NULL,
    attempted_at TIMESTAMP,
    delivered_at TIMESTAMP,
    PRIMARY KEY (channel, event_key)
);
