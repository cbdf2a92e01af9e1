-- Record a confirmed surge (a run confirms at most one: a second record of it is left out).
INSERT INTO smspresto.campaign_surges
    (campaign, run_id, confirmed_at, found_rows, threshold, rest, rest_rows)
VALUES (
    $campaign::VARCHAR,
    $run_id::VARCHAR,
    $now::TIMESTAMP,
    $found_rows::INTEGER,
    $threshold::INTEGER,
    $rest::VARCHAR,
    $rest_rows::INTEGER
)
ON CONFLICT DO NOTHING;
