-- Record a trip; the caller has checked that this source and partition has no active one.
INSERT INTO smspresto.campaign_pauses (source, partition_key, reason, tripped_at)
VALUES ($source::VARCHAR, $partition_key::VARCHAR, $reason::VARCHAR, $now::TIMESTAMP)
RETURNING source, partition_key, reason, tripped_at, resumed_at, resumed_by, resume_reason;
