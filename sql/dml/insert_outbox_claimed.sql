-- Claim rows: the unique (campaign, dedup_key) lets only the first claim of a key in, in one
-- statement, so two runs can never both claim a key; RETURNING names the rows inserted here.
INSERT INTO smspresto.outbox BY NAME
SELECT
    campaign,
    dedup_key,
    recipient,
    sender,
    message,
    segments,
    encoding,
    $state AS state,
    $skip_reason::VARCHAR AS skip_reason,
    $run_id::VARCHAR AS run_id,
    $now::TIMESTAMP AS created_at,
    $now::TIMESTAMP AS updated_at
FROM claimed_messages
ON CONFLICT DO NOTHING
RETURNING campaign, dedup_key;
