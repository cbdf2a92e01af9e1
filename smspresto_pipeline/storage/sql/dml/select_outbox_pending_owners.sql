-- The runs that own pending rows (of one campaign, or all), with how many of their rows were
-- requested and not, and their last write to any of them: a run's activity as the outbox sees it.
SELECT
    campaign,
    run_id,
    count(*) FILTER (WHERE requested_at IS NOT NULL) AS requested,
    count(*) FILTER (WHERE requested_at IS NULL) AS unrequested,
    max(updated_at) AS last_write
FROM smspresto.outbox
WHERE state = 'pending'
    AND run_id IS NOT NULL
    AND ($campaign::VARCHAR IS NULL OR campaign = $campaign::VARCHAR)
GROUP BY campaign, run_id
ORDER BY campaign, last_write, run_id;
