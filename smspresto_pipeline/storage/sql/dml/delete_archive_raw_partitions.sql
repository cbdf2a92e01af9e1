-- staged_days: the days being replaced, of one account (a day with no message still loses its
-- old rows); another account's rows of the same days are not touched.
DELETE FROM smspresto.archive_raw
WHERE account = (SELECT any_value(account) FROM staged_days)
    AND partition_date IN (SELECT partition_date FROM staged_days);
