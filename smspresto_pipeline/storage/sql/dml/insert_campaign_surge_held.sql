-- Record a surge held for confirmation, unless the campaign already has one open (or had one
-- held at this very time: the sensor must not fail on it).
INSERT INTO smspresto.campaign_surges_held (campaign, held_at, found_rows, threshold, resolve)
SELECT $campaign::VARCHAR, $now::TIMESTAMP, $found_rows::INTEGER, $threshold::INTEGER,
    $resolve::VARCHAR
WHERE NOT EXISTS (
    SELECT 1 FROM smspresto.campaign_surges_held
    WHERE campaign = $campaign::VARCHAR AND ended_at IS NULL
)
ON CONFLICT DO NOTHING;
