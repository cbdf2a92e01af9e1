-- Move rows of one campaign to $state, only from the states allowed to lead there; values not
-- given keep what the row had. sent_at is set when a row becomes sent. outbox_keys holds the
-- rows select_outbox_markable_keys.sql found: what moved is read back, not echoed.
-- The keys are looked up in the primary key (see select_outbox_unrequested_keys.sql).
UPDATE smspresto.outbox
SET
    state = $state::VARCHAR,
    api_status = coalesce($api_status::INTEGER, api_status),
    api_message = coalesce($api_message::VARCHAR, api_message),
    skip_reason = coalesce($skip_reason::VARCHAR, skip_reason),
    run_id = coalesce($run_id::VARCHAR, run_id),
    sent_at = CASE WHEN $state::VARCHAR = 'sent' THEN coalesce($sent_at::TIMESTAMP, $now::TIMESTAMP)
        ELSE sent_at END,
    updated_at = $now::TIMESTAMP
WHERE campaign = $campaign
    AND dedup_key = ANY(ARRAY(SELECT dedup_key FROM outbox_keys))
    AND state = ANY($from_states::VARCHAR[]);
