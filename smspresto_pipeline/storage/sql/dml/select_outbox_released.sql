-- A campaign's pending rows that no run owns (released by a run that stopped before their
-- batch's request: provably never sent), oldest first.
SELECT *
FROM smspresto.outbox
WHERE campaign = $campaign
    AND state = 'pending'
    AND run_id IS NULL
ORDER BY created_at, campaign, dedup_key;
