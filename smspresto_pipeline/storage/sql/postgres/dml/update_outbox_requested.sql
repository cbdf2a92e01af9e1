-- Record a batch as requested, just before its request leaves: the pending rows of outbox_keys
-- (found by select_outbox_unrequested_keys.sql) get requested_at. From then on a dead run's row
-- may have been sent: it is quarantined, never released to another run. The keys are looked up
-- in the primary key (see select_outbox_unrequested_keys.sql).
UPDATE smspresto.outbox
SET
    requested_at = $now::TIMESTAMP,
    updated_at = $now::TIMESTAMP
WHERE campaign = $campaign
    AND dedup_key = ANY(ARRAY(SELECT dedup_key FROM outbox_keys))
    AND state = 'pending'
    AND requested_at IS NULL
    AND run_id = $run_id::VARCHAR;
