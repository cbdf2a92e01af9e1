SELECT history_id, created_at, sender, recipient, status, segments, country, carrier
FROM smspresto.messages
WHERE partition_date = $partition_date
ORDER BY created_at, history_id
LIMIT $limit;
