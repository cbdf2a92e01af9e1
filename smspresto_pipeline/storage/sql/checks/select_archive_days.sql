-- The days that hold at least one message, and how many of each day's messages are pending.
SELECT partition_date, count(*) FILTER (WHERE status = 'pending') AS pending
FROM smspresto.messages
GROUP BY partition_date
ORDER BY partition_date;
