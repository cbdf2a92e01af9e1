-- Per day: messages, failed messages and the failure rate over final messages
-- (delivered + failed); NULL while none is final.
SELECT
    partition_date,
    count(*) AS messages,
    count_if(status = 'failed') AS failed,
    count_if(status = 'failed')
        / nullif(count_if(status IN ('delivered', 'failed')), 0) AS failure_rate
FROM smspresto.messages
GROUP BY partition_date
ORDER BY partition_date;
