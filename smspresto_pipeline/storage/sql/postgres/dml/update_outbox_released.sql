-- A run releases pending rows of its own that provably never left (never requested, or whose
-- request never reached the API): no run owns them, and a later run may adopt and send them.
-- The keys are looked up in the primary key (see select_outbox_unrequested_keys.sql).
UPDATE smspresto.outbox
SET
    run_id = NULL,
    requested_at = NULL,
    updated_at = $now::TIMESTAMP
WHERE campaign = $campaign
    AND dedup_key = ANY(ARRAY(SELECT dedup_key FROM outbox_keys))
    AND state = 'pending'
    AND run_id = $run_id::VARCHAR;
