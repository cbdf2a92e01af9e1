-- Messages per delivery status over the whole history, most frequent first.
SELECT status, count(*) AS messages
FROM smspresto.messages
GROUP BY status
ORDER BY messages DESC, status;
