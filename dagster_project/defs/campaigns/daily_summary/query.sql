-- One row: yesterday's (in the account's time zone) messages and failures, to the operator.
-- dedup_key is the day: one summary per day, whatever the number of evaluations.
-- Written to run alike on DuckDB and PostgreSQL: the day and the counts are returned as they
-- are, and message.j2 formats them (each engine formats dates and numbers its own way).
WITH yesterday AS (
    SELECT CAST(now() AT TIME ZONE '{{ settings.timezone }}' AS DATE) - 1 AS day
)
SELECT
    '{{ settings.operator_number }}' AS recipient,
    yesterday.day AS dedup_key,
    yesterday.day,
    count(messages.history_id) AS messages,
    count(messages.history_id) FILTER (WHERE messages.status = 'failed') AS failed
FROM yesterday
LEFT JOIN smspresto.messages AS messages ON messages.partition_date = yesterday.day
GROUP BY yesterday.day
