-- Per day: messages, failed messages and the failure rate over final messages
-- (delivered + failed); NULL while none is final.
SELECT
    partition_date,
    count(*) AS messages,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    -- Cast: PostgreSQL divides integers as integers.
    CAST(count(*) FILTER (WHERE status = 'failed') AS DOUBLE PRECISION)
        / nullif(count(*) FILTER (WHERE status IN ('delivered', 'failed')), 0) AS failure_rate
FROM smspresto.messages
GROUP BY partition_date
ORDER BY partition_date;
