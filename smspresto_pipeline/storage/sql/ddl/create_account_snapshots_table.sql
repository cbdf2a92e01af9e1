-- One row per reading of the ten account counters of an account (the configured account
-- name: smspresto.messages says more); taken_at is UTC.
CREATE TABLE IF NOT EXISTS smspresto.account_snapshots (
    taken_at TIMESTAMP NOT NULL,
    stock BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    success BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    contacts BIGINT NOT NULL,
    groups BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    bills BIGINT NOT NULL,
    scheduled BIGINT NOT NULL,
    predefined BIGINT NOT NULL,
    account VARCHAR NOT NULL DEFAULT 'default'
);
