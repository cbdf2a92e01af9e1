-- One row per intended SMS. The key (campaign, dedup_key) is what stops a second send of the
-- same message: a row is inserted (claimed) before any request, then marked. States:
--   pending    claimed for sending now; a request may be in flight
--   held       claimed during quiet hours: becomes pending when the window opens
--   baseline   recorded on a campaign's first activation: never sent
--   sent / failed        the API's answer (api_status, api_message)
--   ambiguous  the answer was lost: resolved against the archive, never resent blindly
--   skipped    not sendable (skip_reason says why: bad number, empty text, opted out ...)
--   expired    held past the campaign's validity period
-- requested_at: when the row's batch was recorded as requested, just before its request left.
-- A pending row without it was provably never requested (its run may release it for another);
-- a pending row with it may have been sent, so a dead run's such rows become ambiguous.
-- Times are UTC. The account password is never stored here.
CREATE TABLE IF NOT EXISTS smspresto.outbox (
    campaign VARCHAR NOT NULL,
    dedup_key VARCHAR NOT NULL,
    recipient VARCHAR NOT NULL,
    sender VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    segments INTEGER NOT NULL,
    encoding VARCHAR NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'pending'
        CHECK (state IN (
            'pending', 'held', 'baseline', 'sent', 'failed', 'ambiguous', 'skipped', 'expired'
        )),
    skip_reason VARCHAR,
    api_status INTEGER,
    api_message VARCHAR,
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    requested_at TIMESTAMP,
    PRIMARY KEY (campaign, dedup_key)
);
