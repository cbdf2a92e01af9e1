-- Messages of each day from $first to $last whose send time is earlier than their creation
-- time; days without such messages have no row here. Of $account (every account when NULL).
SELECT partition_date AS day, count(*) AS messages
FROM smspresto.messages
WHERE partition_date BETWEEN $first AND $last AND sent_at < created_at
    AND account = coalesce($account, account)
GROUP BY partition_date
ORDER BY partition_date;
