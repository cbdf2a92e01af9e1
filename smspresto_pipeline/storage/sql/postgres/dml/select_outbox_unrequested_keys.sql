-- The pending rows of one campaign among outbox_keys that $run_id owns (NULL: no run) and that
-- were never requested, and whether each number has opted out since it was claimed.
-- The keys are looked up in the primary key (= ANY of an array): a temporary table has no
-- statistics, nor has a freshly claimed outbox, and with IN (SELECT ...) the planner may scan
-- every row of the campaign once per key (seconds a batch on a 20,000-row outbox).
SELECT
    outbox.dedup_key,
    outbox.recipient IN (SELECT recipient FROM smspresto.opt_outs) AS opted_out
FROM smspresto.outbox AS outbox
WHERE outbox.campaign = $campaign
    AND outbox.dedup_key = ANY(ARRAY(SELECT dedup_key FROM outbox_keys))
    AND outbox.state = 'pending'
    AND outbox.requested_at IS NULL
    AND outbox.run_id IS NOT DISTINCT FROM $run_id::VARCHAR;
