-- Resolve ambiguous rows, each with its own message: to sent (found in the archive; sent_at is
-- the archived message's creation) or back to pending with no run (absent from an archive that
-- covers its window: never accepted, so a later run adopts and sends it). A row no longer
-- ambiguous (resolved meanwhile) is left alone. What moved is read back, not echoed.
UPDATE smspresto.outbox AS o
SET
    state = r.state,
    api_message = r.api_message,
    sent_at = CASE WHEN r.state = 'sent' THEN r.sent_at ELSE o.sent_at END,
    run_id = CASE WHEN r.state = 'pending' THEN NULL ELSE o.run_id END,
    requested_at = CASE WHEN r.state = 'pending' THEN NULL ELSE o.requested_at END,
    updated_at = $now::TIMESTAMP
FROM reconciled_rows AS r
WHERE o.campaign = r.campaign
    AND o.dedup_key = r.dedup_key
    AND o.state = 'ambiguous';
