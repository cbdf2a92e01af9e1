-- The rows of reconciled_rows whose outbox row now holds the state and time the reconciliation
-- wrote: what it moved, read back in its transaction.
SELECT o.campaign, o.dedup_key, o.state
FROM smspresto.outbox AS o
INNER JOIN reconciled_rows AS r ON o.campaign = r.campaign AND o.dedup_key = r.dedup_key
WHERE o.state = r.state
    AND o.updated_at = $now::TIMESTAMP;
