-- One row per day of staged_days, in its order (zeros for a day without messages: it has no
-- row in messages_by_day, hence the coalesce), all of staged_days' account. Only the days'
-- rows are read: a count of the whole table would grow with the account's history.
-- PostgreSQL's copy of the portable file: the days as an array, so that the index on
-- (account, partition_date) finds the days' rows alone (IN (SELECT ...) read the account's
-- whole history for each day written).
WITH days AS (SELECT account, partition_date, position FROM staged_days),
messages_by_day AS (
    SELECT
        partition_date,
        count(*) AS messages,
        count(*) FILTER (WHERE status = 'delivered') AS delivered,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        count(*) FILTER (WHERE status = 'pending') AS pending,
        count(*) FILTER (WHERE status NOT IN ('delivered', 'failed', 'pending')) AS unknown,
        sum(segments) AS segments
    FROM smspresto.messages
    WHERE account = (SELECT any_value(account) FROM days)
        AND partition_date = ANY(ARRAY(SELECT partition_date FROM days))
    GROUP BY partition_date
),
raw_by_day AS (
    SELECT partition_date, count(*) AS raw_rows
    FROM smspresto.archive_raw
    WHERE account = (SELECT any_value(account) FROM days)
        AND partition_date = ANY(ARRAY(SELECT partition_date FROM days))
    GROUP BY partition_date
)
SELECT
    days.partition_date,
    coalesce(m.messages, 0) AS messages,
    coalesce(m.delivered, 0) AS delivered,
    coalesce(m.failed, 0) AS failed,
    coalesce(m.pending, 0) AS pending,
    coalesce(m.unknown, 0) AS unknown,
    coalesce(m.segments, 0) AS segments,
    coalesce(r.raw_rows, 0) AS raw_rows
FROM days
LEFT JOIN messages_by_day AS m USING (partition_date)
LEFT JOIN raw_by_day AS r USING (partition_date)
ORDER BY days.position;
