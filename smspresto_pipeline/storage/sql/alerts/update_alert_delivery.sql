-- Move one delivery of $channel from $from_state to $state, with what the channel answered;
-- its first attempt's time is kept (the rate limit counts it once). $state is cast where it
-- is read twice: PostgreSQL deduces one type per parameter.
UPDATE smspresto.alert_deliveries
SET state = $state::VARCHAR,
    detail = $detail::VARCHAR,
    attempted_at = coalesce(attempted_at, $now::TIMESTAMP),
    delivered_at = CASE WHEN $state::VARCHAR = 'delivered' THEN $now::TIMESTAMP ELSE delivered_at END
WHERE channel = $channel AND event_key = $event_key AND state = $from_state;
