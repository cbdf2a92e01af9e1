-- A run releases pending rows of its own that provably never left (never requested, or whose
-- request never reached the API): no run owns them, and a later run may adopt and send them.
UPDATE smspresto.outbox
SET
    run_id = NULL,
    requested_at = NULL,
    updated_at = $now::TIMESTAMP
WHERE campaign = $campaign
    AND state = 'pending'
    AND run_id = $run_id::VARCHAR
    AND dedup_key IN (SELECT dedup_key FROM outbox_keys);
