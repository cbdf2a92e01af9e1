-- The runs that confirmed a surge of one campaign with a given rest ('keep': their held rows
-- never expire).
SELECT run_id
FROM smspresto.campaign_surges
WHERE campaign = $campaign::VARCHAR AND rest = $rest::VARCHAR;
