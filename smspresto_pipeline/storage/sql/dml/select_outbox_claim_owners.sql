-- The stored rows of the messages being claimed (claimed_messages), and whether each holds
-- this claim's values. Read before the INSERT (the keys already taken) and after it (every key
-- must then have a row; those holding the claim's values and not taken before are the claim's).
SELECT
    outbox.campaign,
    outbox.dedup_key,
    outbox.state = $state
    AND outbox.run_id IS NOT DISTINCT FROM $run_id::VARCHAR
    AND outbox.created_at = $now::TIMESTAMP AS claimed_here
FROM smspresto.outbox AS outbox
INNER JOIN claimed_messages AS claimed
    ON outbox.campaign = claimed.campaign AND outbox.dedup_key = claimed.dedup_key;
