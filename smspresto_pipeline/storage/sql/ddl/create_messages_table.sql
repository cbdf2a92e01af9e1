-- One row per message of the history, typed. Times are the account's local time (naive), as
-- the API gives them; loaded_at is UTC. recipient is E.164 when recipient_valid, else the raw
-- number (old numbers stay in the history: docs/architecture.md, section 3).
-- account: the configured account name ('default' when a project names none, and for the rows
-- of a warehouse made before accounts); history_id is unique per account, not across them.
CREATE TABLE IF NOT EXISTS smspresto.messages (
    history_id BIGINT NOT NULL,
    recipient VARCHAR NOT NULL,
    sender VARCHAR,
    recipient_valid BOOLEAN NOT NULL,
    message VARCHAR,
    status_code VARCHAR,
    status VARCHAR NOT NULL,
    segments INTEGER,
    created_at TIMESTAMP,
    sent_at TIMESTAMP,
    queued_at TIMESTAMP,
    account_ref VARCHAR,
    queue_id VARCHAR,
    contact_name VARCHAR,
    country VARCHAR,
    carrier VARCHAR,
    account VARCHAR NOT NULL DEFAULT 'default',
    partition_date DATE NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account, history_id)
);
