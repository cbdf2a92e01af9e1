-- Several marks of one campaign in one statement: each row of marked_rows moves its key to
-- its state, only from the states allowed to lead there (from_states), with its own answer
-- and time; values not given keep what the row had. The same result as one
-- update_outbox_state.sql per mark, joined on the outbox's key.
-- The keys are looked up in the primary key (see select_outbox_unrequested_keys.sql).
UPDATE smspresto.outbox AS outbox
SET
    state = marked.state,
    api_status = coalesce(marked.api_status, outbox.api_status),
    api_message = coalesce(marked.api_message, outbox.api_message),
    run_id = coalesce($run_id::VARCHAR, outbox.run_id),
    sent_at = CASE WHEN marked.state = 'sent' THEN marked.now ELSE outbox.sent_at END,
    updated_at = marked.now
FROM marked_rows AS marked
WHERE outbox.campaign = $campaign
    AND outbox.dedup_key = ANY(ARRAY(SELECT dedup_key FROM marked_rows))
    AND outbox.dedup_key = marked.dedup_key
    AND outbox.state = ANY(marked.from_states);
