-- Claim rows: the unique (campaign, dedup_key) lets only the first claim of a key in, in one
-- statement, so two runs can never both claim a key. Which rows this claim inserted is read back
-- (select_outbox_claim_owners.sql), never taken from the statement's echo.
INSERT INTO smspresto.outbox (
    campaign, dedup_key, recipient, sender, message, segments, encoding, state, skip_reason,
    run_id, created_at, updated_at
)
SELECT
    campaign,
    dedup_key,
    recipient,
    sender,
    message,
    segments,
    encoding,
    $state::VARCHAR AS state,
    $skip_reason::VARCHAR AS skip_reason,
    $run_id::VARCHAR AS run_id,
    $now::TIMESTAMP AS created_at,
    $now::TIMESTAMP AS updated_at
FROM claimed_messages
ON CONFLICT DO NOTHING;
