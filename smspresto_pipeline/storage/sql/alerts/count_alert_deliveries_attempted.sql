-- How many alerts $channel attempted since $since: what its rate limit counts.
SELECT count(*) FROM smspresto.alert_deliveries
WHERE channel = $channel AND attempted_at >= $since;
