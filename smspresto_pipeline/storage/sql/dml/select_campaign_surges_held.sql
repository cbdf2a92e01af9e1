-- The open held surges (of one campaign, or of every campaign when $campaign is NULL), oldest
-- first.
SELECT campaign, held_at, found_rows, threshold, resolve
FROM smspresto.campaign_surges_held
WHERE ended_at IS NULL AND ($campaign::VARCHAR IS NULL OR campaign = $campaign::VARCHAR)
ORDER BY held_at, campaign;
