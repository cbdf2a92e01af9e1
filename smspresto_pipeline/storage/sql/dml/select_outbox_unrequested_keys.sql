-- The pending rows of one campaign among outbox_keys that $run_id owns (NULL: no run) and that
-- were never requested, and whether each number has opted out since it was claimed.
SELECT
    outbox.dedup_key,
    outbox.recipient IN (SELECT recipient FROM smspresto.opt_outs) AS opted_out
FROM smspresto.outbox AS outbox
WHERE outbox.campaign = $campaign
    AND outbox.state = 'pending'
    AND outbox.requested_at IS NULL
    AND outbox.run_id IS NOT DISTINCT FROM $run_id::VARCHAR
    AND outbox.dedup_key IN (SELECT dedup_key FROM outbox_keys);
