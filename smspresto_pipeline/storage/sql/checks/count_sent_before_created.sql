-- Messages of one day ($day) whose send time is earlier than their creation time.
SELECT count(*) AS messages
FROM smspresto.messages
WHERE partition_date = $day AND sent_at < created_at;
