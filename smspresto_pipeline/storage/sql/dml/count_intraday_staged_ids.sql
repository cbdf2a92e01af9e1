-- The staged ids of an intraday read against the stored rows: new, stored before (replaced), or
-- stored by a write that started after this read did (kept: newer than what it read).
-- staged_days.loaded_at is the read's start.
SELECT
    count(*) FILTER (WHERE m.history_id IS NULL) AS new_rows,
    count(*) FILTER (
        WHERE m.loaded_at <= (SELECT max(loaded_at) FROM staged_days)
    ) AS updated_rows,
    count(*) FILTER (
        WHERE m.loaded_at > (SELECT max(loaded_at) FROM staged_days)
    ) AS kept_rows
FROM (SELECT DISTINCT history_id FROM staged_messages) AS s
LEFT JOIN smspresto.messages AS m
    ON m.account = (SELECT max(account) FROM staged_days)
    AND m.history_id = s.history_id;
