-- $days: the days being replaced (a day with no message still loses its old rows).
DELETE FROM smspresto.messages WHERE partition_date IN (SELECT unnest($days::DATE[]));
