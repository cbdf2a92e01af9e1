-- Outbox rows per campaign and state.
SELECT campaign, state, count(*) AS n
FROM smspresto.outbox
GROUP BY campaign, state
ORDER BY campaign, state;
