-- A day replaced whole is no longer what its intraday reading described (the replacement's
-- read may have started before the latest intraday one): the next intraday read starts over.
DELETE FROM smspresto.intraday_reads
WHERE account = (SELECT any_value(account) FROM staged_days)
    AND partition_date IN (SELECT partition_date FROM staged_days);
