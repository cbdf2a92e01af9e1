-- Record the events of new_alerts for $channel as waiting; an event already recorded (in any
-- state) is left as it is: one delivery per (channel, event).
INSERT INTO smspresto.alert_deliveries (
    channel, event_key, kind, short_text, long_text, state, created_at
)
SELECT $channel, event_key, kind, short_text, long_text, 'waiting', $now
FROM new_alerts
ON CONFLICT DO NOTHING;
