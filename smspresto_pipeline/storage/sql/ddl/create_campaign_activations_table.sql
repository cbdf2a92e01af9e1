-- One row per campaign switched on: its first activation, recorded in the same transaction as
-- the baseline (the rows its query returned then, claimed 'baseline' in the outbox and never
-- sent), even when there were none. A campaign is activated when it has this row, or when it
-- already has outbox rows (a file older than this table). A file replaced (the outbox lost)
-- loses both, and the next activation records a baseline again.
--   baseline_rows   the rows recorded as baseline (0: the query returned nothing then)
--   activated_by    sensor:<sensor name>, or job:<job name>:<run id> (a manual first launch)
-- Times are UTC.
CREATE TABLE IF NOT EXISTS smspresto.campaign_activations (
    campaign VARCHAR PRIMARY KEY,
    activated_at TIMESTAMP NOT NULL,
    baseline_rows INTEGER NOT NULL CHECK (baseline_rows >= 0),
    activated_by VARCHAR NOT NULL
);
