-- The trips, newest first: every one, or only the active ones ($active_only), at most $limit.
SELECT source, partition_key, reason, tripped_at, resumed_at, resumed_by, resume_reason
FROM smspresto.campaign_pauses
WHERE NOT $active_only::BOOLEAN OR resumed_at IS NULL
ORDER BY tripped_at DESC, source, partition_key
LIMIT $limit::BIGINT;
