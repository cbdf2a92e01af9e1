-- The pending rows of one campaign among outbox_keys that $run_id owns, requested or not.
SELECT dedup_key
FROM smspresto.outbox
WHERE campaign = $campaign
    AND state = 'pending'
    AND run_id = $run_id::VARCHAR
    AND dedup_key IN (SELECT dedup_key FROM outbox_keys);
