-- A trip recorded again (a check re-run on the same partition): keep its time, take the
-- latest reason (the numbers may have moved).
UPDATE smspresto.campaign_pauses
SET reason = $reason::VARCHAR
WHERE resumed_at IS NULL
  AND source = $source::VARCHAR
  AND partition_key IS NOT DISTINCT FROM $partition_key::VARCHAR
RETURNING source, partition_key, reason, tripped_at, resumed_at, resumed_by, resume_reason;
