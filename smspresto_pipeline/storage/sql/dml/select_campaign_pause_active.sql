-- The active trip of one source and partition (at most one: trip() never stacks them).
SELECT source, partition_key, reason, tripped_at, resumed_at, resumed_by, resume_reason
FROM smspresto.campaign_pauses
WHERE resumed_at IS NULL
  AND source = $source::VARCHAR
  AND partition_key IS NOT DISTINCT FROM $partition_key::VARCHAR;
