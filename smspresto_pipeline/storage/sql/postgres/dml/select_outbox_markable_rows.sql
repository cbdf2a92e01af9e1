-- The rows of marked_rows whose outbox row (of one campaign) is in a state allowed to lead to
-- its mark's state: the rows update_outbox_marks.sql then moves.
-- The keys are looked up in the primary key (see select_outbox_unrequested_keys.sql).
SELECT outbox.dedup_key
FROM smspresto.outbox AS outbox
INNER JOIN marked_rows AS marked ON outbox.dedup_key = marked.dedup_key
WHERE outbox.campaign = $campaign
    AND outbox.dedup_key = ANY(ARRAY(SELECT dedup_key FROM marked_rows))
    AND outbox.state = ANY(marked.from_states);
