-- The rows of marked_rows whose outbox row (of one campaign) is in a state allowed to lead to
-- its mark's state: the rows update_outbox_marks.sql then moves.
SELECT outbox.dedup_key
FROM smspresto.outbox AS outbox
INNER JOIN marked_rows AS marked ON outbox.dedup_key = marked.dedup_key
WHERE outbox.campaign = $campaign
    AND outbox.state = ANY(marked.from_states);
