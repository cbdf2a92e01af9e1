-- Hand pending rows of one campaign from one run to another (either may be NULL: no run), only
-- while they are still pending and still that run's: of two runs adopting a key, one gets it.
UPDATE smspresto.outbox
SET
    run_id = $to_run::VARCHAR,
    updated_at = $now::TIMESTAMP
WHERE campaign = $campaign
    AND state = 'pending'
    AND run_id IS NOT DISTINCT FROM $from_run::VARCHAR
    AND dedup_key IN (SELECT dedup_key FROM handed_keys)
RETURNING dedup_key;
