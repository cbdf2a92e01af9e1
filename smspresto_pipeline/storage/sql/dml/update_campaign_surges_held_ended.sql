-- End a campaign's open held surge (it was confirmed, or is no longer a surge).
UPDATE smspresto.campaign_surges_held
SET ended_at = $now::TIMESTAMP
WHERE campaign = $campaign::VARCHAR AND ended_at IS NULL;
