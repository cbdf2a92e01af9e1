-- One row: yesterday's (in the account's time zone) messages and failures, to the operator.
-- dedup_key is the day: one summary per day, whatever the number of evaluations.
WITH yesterday AS (
    SELECT CAST(now() AT TIME ZONE '{{ settings.timezone }}' AS DATE) - 1 AS day
),
figures AS (
    SELECT
        yesterday.day,
        count(messages.history_id) AS messages,
        count(messages.history_id) FILTER (WHERE messages.status = 'failed') AS failed
    FROM yesterday
    LEFT JOIN smspresto.messages AS messages ON messages.partition_date = yesterday.day
    GROUP BY yesterday.day
)
SELECT
    '{{ settings.operator_number }}' AS recipient,
    strftime(day, '%Y-%m-%d') AS dedup_key,
    strftime(day, '%d/%m/%Y') AS day,
    messages,
    failed,
    CASE
        WHEN messages > 0 THEN replace(printf('%.1f', 100.0 * failed / messages), '.', ',')
    END AS failure_rate
FROM figures
