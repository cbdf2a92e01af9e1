-- End active trips: those of one source and partition ($everything false: a check passed
-- again), or all of them ($everything true: a person resumed).
UPDATE smspresto.campaign_pauses
SET resumed_at = $now::TIMESTAMP,
    resumed_by = $resumed_by::VARCHAR,
    resume_reason = $resume_reason::VARCHAR
WHERE resumed_at IS NULL
  AND ($everything::BOOLEAN
       OR (source = $source::VARCHAR
           AND partition_key IS NOT DISTINCT FROM $partition_key::VARCHAR))
RETURNING source, partition_key, reason, tripped_at, resumed_at, resumed_by, resume_reason;
