-- The rows of one campaign among outbox_keys in a state allowed to lead to the mark's state:
-- the rows update_outbox_state.sql then moves.
-- The keys are looked up in the primary key (see select_outbox_unrequested_keys.sql).
SELECT dedup_key
FROM smspresto.outbox
WHERE campaign = $campaign
    AND dedup_key = ANY(ARRAY(SELECT dedup_key FROM outbox_keys))
    AND state = ANY($from_states::VARCHAR[]);
