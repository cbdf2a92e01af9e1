-- How many rows each of a campaign's latest send runs claimed to send (the rows of the run now
-- in $states, whatever became of them), newest run first: the volume breaker's history. A run
-- is dated by its rows' last change.
SELECT count(*) AS claimed
FROM smspresto.outbox
WHERE campaign = $campaign
    AND run_id IS NOT NULL
    AND state = ANY($states::VARCHAR[])
GROUP BY run_id
ORDER BY max(updated_at) DESC, run_id
LIMIT $runs::BIGINT;
