-- The candidate keys of a campaign that already have an outbox row, whatever its state.
SELECT DISTINCT candidate_keys.dedup_key
FROM candidate_keys
JOIN smspresto.outbox AS outbox
    ON outbox.campaign = $campaign AND outbox.dedup_key = candidate_keys.dedup_key;
