-- Final messages (delivered or failed: pending and unknown statuses are left out) and failures
-- per archive day, for the whole account ('all'), each sender and each carrier, from $first
-- to $last inclusive, of $account (of every account when NULL). A day on which a segment sent only non-final messages still has a row.
SELECT
    partition_date AS day,
    CASE
        WHEN grouping(sender) = 0 THEN 'sender:' || coalesce(sender, 'unknown')
        WHEN grouping(carrier) = 0 THEN 'carrier:' || coalesce(carrier, 'unknown')
        ELSE 'all'
    END AS segment,
    count(*) FILTER (WHERE status IN ('delivered', 'failed')) AS final,
    count(*) FILTER (WHERE status = 'failed') AS failed
FROM smspresto.messages
WHERE partition_date BETWEEN $first AND $last AND account = coalesce($account, account)
GROUP BY GROUPING SETS ((partition_date), (partition_date, sender), (partition_date, carrier))
ORDER BY day, segment;
