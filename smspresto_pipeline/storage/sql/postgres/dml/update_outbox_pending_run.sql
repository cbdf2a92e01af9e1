-- Hand pending rows of one campaign that were never requested from one run to another (either
-- may be NULL: no run): those select_outbox_unrequested_keys.sql found for the giving run. The
-- keys are looked up in the primary key (see select_outbox_unrequested_keys.sql).
UPDATE smspresto.outbox
SET
    run_id = $to_run::VARCHAR,
    updated_at = $now::TIMESTAMP
WHERE campaign = $campaign
    AND dedup_key = ANY(ARRAY(SELECT dedup_key FROM outbox_keys))
    AND state = 'pending'
    AND requested_at IS NULL
    AND run_id IS NOT DISTINCT FROM $run_id::VARCHAR;
