-- The days that hold at least one message of $account (of any account when NULL), and how
-- many of each day's messages are pending.
SELECT partition_date, count(*) FILTER (WHERE status = 'pending') AS pending
FROM smspresto.messages
WHERE account = coalesce($account, account)
GROUP BY partition_date
ORDER BY partition_date;
