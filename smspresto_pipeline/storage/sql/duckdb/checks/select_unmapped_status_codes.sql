-- The status codes of one day ($day) that the status map does not name, with their counts.
SELECT coalesce(status_code, '<null>') AS status_code, count(*) AS messages
FROM smspresto.messages
WHERE partition_date = $day AND status = 'unknown'
GROUP BY ALL
ORDER BY messages DESC, status_code;
