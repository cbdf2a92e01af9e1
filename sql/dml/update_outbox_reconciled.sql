-- Resolve ambiguous rows to sent or failed, each with its own message; a row no longer
-- ambiguous (resolved meanwhile) is left alone. sent_at is the archived message's creation.
UPDATE smspresto.outbox AS o
SET
    state = r.state,
    api_message = r.api_message,
    sent_at = CASE WHEN r.state = 'sent' THEN r.sent_at ELSE o.sent_at END,
    updated_at = $now::TIMESTAMP
FROM reconciled_rows AS r
WHERE o.campaign = r.campaign
    AND o.dedup_key = r.dedup_key
    AND o.state = 'ambiguous'
RETURNING o.campaign, o.dedup_key, o.state;
