-- What a write moved, read back in its transaction instead of trusting its echo: the rows of
-- moved_rows whose outbox row (of one campaign) now holds the state and time written there
-- and, when $check_run, the run. The outbox's rows are found in its primary key (= ANY of an
-- array; see select_outbox_unrequested_keys.sql), then matched to moved_rows' values.
SELECT outbox.dedup_key
FROM smspresto.outbox AS outbox
INNER JOIN moved_rows AS moved ON outbox.dedup_key = moved.dedup_key
WHERE outbox.campaign = $campaign
    AND outbox.dedup_key = ANY(ARRAY(SELECT dedup_key FROM moved_rows))
    AND outbox.state = moved.state
    AND outbox.updated_at = moved.now
    AND (NOT $check_run OR outbox.run_id IS NOT DISTINCT FROM $run_id::VARCHAR);
