-- Campaigns' activations, by campaign; $campaign NULL: every campaign.
SELECT campaign, activated_at, baseline_rows, activated_by
FROM smspresto.campaign_activations
WHERE $campaign::VARCHAR IS NULL OR campaign = $campaign::VARCHAR
ORDER BY campaign;
