-- staged_days: the days being replaced, of one account (a day with no message still loses its
-- old rows); another account's rows of the same days are not touched.
-- PostgreSQL's copy of the portable file: the days as an array, so that the index on
-- (account, partition_date) finds the days' rows alone. Written as IN (SELECT ...) the days
-- were a join beside the index, which then read every row of the account's history each day.
DELETE FROM smspresto.archive_raw
WHERE account = (SELECT max(account) FROM staged_days)
    AND partition_date = ANY(ARRAY(SELECT partition_date FROM staged_days));
