-- Rows in some states, oldest first; every filter is optional (NULL: no filter).
SELECT *
FROM smspresto.outbox
WHERE state = ANY($states::VARCHAR[])
    AND ($campaign::VARCHAR IS NULL OR campaign = $campaign::VARCHAR)
    AND ($created_before::TIMESTAMP IS NULL OR created_at < $created_before::TIMESTAMP)
ORDER BY created_at, campaign, dedup_key
LIMIT $limit::BIGINT;
