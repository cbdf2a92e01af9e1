-- Messages of each day from $first to $last without a recipient or without a creation time (a
-- creation time the API sent that could not be read as one is NULL here too). Days without
-- messages have no row here. Of $account (every account when NULL).
SELECT
    partition_date AS day,
    count(*) FILTER (WHERE recipient IS NULL OR trim(recipient) = '') AS no_recipient,
    count(*) FILTER (WHERE created_at IS NULL) AS no_created_at
FROM smspresto.messages
WHERE partition_date BETWEEN $first AND $last AND account = coalesce($account, account)
GROUP BY partition_date
ORDER BY partition_date;
