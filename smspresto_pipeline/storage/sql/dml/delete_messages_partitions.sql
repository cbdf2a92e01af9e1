-- staged_days: the days being replaced (a day with no message still loses its old rows).
DELETE FROM smspresto.messages
WHERE partition_date IN (SELECT partition_date FROM staged_days);
