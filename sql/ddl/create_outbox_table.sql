-- One row per intended SMS. The key (campaign, dedup_key) is what stops a second send of the
-- same message: a row is inserted as pending before any request, then marked. Times are UTC.
CREATE TABLE IF NOT EXISTS smspresto.outbox (
    campaign VARCHAR NOT NULL,
    dedup_key VARCHAR NOT NULL,
    recipient VARCHAR NOT NULL,
    sender VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    segments INTEGER NOT NULL,
    encoding VARCHAR NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'failed', 'ambiguous', 'skipped')),
    api_status INTEGER,
    api_message VARCHAR,
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    PRIMARY KEY (campaign, dedup_key)
);
