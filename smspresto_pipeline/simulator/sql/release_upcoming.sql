-- The seeded rows created by :until (local time text), into the archive in creation order.
-- Each settles :delay seconds after its creation: its Unix time is :until_epoch less the
-- seconds between it and :until (the zone's offset of :until, which a day's shift at a
-- daylight-saving change would move by an hour: the simulator's accounts are UTC+0 by default).
INSERT INTO messages (
    created_date, created_at, sent_at, queued_at, recipient, message, segments, sender,
    contact_name, queue_id, status, settle_at
)
SELECT
    created_date, created_at, sent_at, queued_at, recipient, message, segments, sender,
    contact_name, queue_id, status,
    :until_epoch - (julianday(:until) - julianday(created_at)) * 86400.0 + :delay
FROM upcoming
WHERE created_at <= :until
ORDER BY created_at, rowid
