-- The pending rows of one campaign among outbox_keys that $run_id owns, requested or not. The
-- keys are looked up in the primary key (see select_outbox_unrequested_keys.sql).
SELECT dedup_key
FROM smspresto.outbox
WHERE campaign = $campaign
    AND dedup_key = ANY(ARRAY(SELECT dedup_key FROM outbox_keys))
    AND state = 'pending'
    AND run_id = $run_id::VARCHAR;
