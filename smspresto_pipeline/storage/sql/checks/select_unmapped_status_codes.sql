-- The status codes of each day from $first to $last that the status map does not name, with
-- their counts; days without such codes have no row here. Of $account (every account when NULL).
SELECT
    partition_date AS day,
    coalesce(status_code, '<null>') AS status_code,
    count(*) AS messages
FROM smspresto.messages
WHERE partition_date BETWEEN $first AND $last AND status = 'unknown' AND account = coalesce($account, account)
GROUP BY partition_date, coalesce(status_code, '<null>')
ORDER BY day;
