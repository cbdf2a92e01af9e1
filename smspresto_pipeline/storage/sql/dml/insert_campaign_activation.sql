-- Record a campaign's first activation; a campaign already recorded is left as it is.
INSERT INTO smspresto.campaign_activations (campaign, activated_at, baseline_rows, activated_by)
VALUES ($campaign::VARCHAR, $now::TIMESTAMP, $baseline_rows::INTEGER, $activated_by::VARCHAR)
ON CONFLICT DO NOTHING
RETURNING campaign, activated_at, baseline_rows, activated_by;
