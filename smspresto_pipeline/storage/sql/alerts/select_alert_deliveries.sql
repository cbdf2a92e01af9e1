-- The deliveries of $channel in $state, oldest first (the order they are told in).
SELECT event_key, kind, short_text, long_text, state, detail, created_at, attempted_at
FROM smspresto.alert_deliveries
WHERE channel = $channel AND state = $state
ORDER BY created_at, event_key;
