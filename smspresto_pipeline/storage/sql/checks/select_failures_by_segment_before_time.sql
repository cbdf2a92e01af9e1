-- Per archive day from $first to $last inclusive, the messages created before the time of day
-- $cutoff (the account's local time, as created_at is; the whole day when NULL), for the whole
-- account ('all'), each sender and each carrier, of $account (of every account when NULL): final
-- messages (delivered or failed: pending and unknown statuses are left out), failures, and
-- messages still pending. A day on which a segment sent only non-final messages still has a row.
-- The daily spike check reads whole days; the intraday one the same hours of every day.
SELECT
    partition_date AS day,
    CASE
        WHEN grouping(sender) = 0 THEN 'sender:' || coalesce(sender, 'unknown')
        WHEN grouping(carrier) = 0 THEN 'carrier:' || coalesce(carrier, 'unknown')
        ELSE 'all'
    END AS segment,
    count(*) FILTER (WHERE status IN ('delivered', 'failed')) AS final,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'pending') AS pending
FROM smspresto.messages
WHERE
    partition_date BETWEEN $first AND $last
    AND account = coalesce($account, account)
    AND ($cutoff::TIME IS NULL OR CAST(created_at AS TIME) < $cutoff::TIME)
GROUP BY GROUPING SETS ((partition_date), (partition_date, sender), (partition_date, carrier))
ORDER BY day, segment;
