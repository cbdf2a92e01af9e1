-- An intraday read's rows replace their earlier readings in the day's verbatim rows, unless a
-- write that started after this read stored them (loaded_at: a write's read start).
DELETE FROM smspresto.archive_raw
WHERE account = (SELECT max(account) FROM staged_days)
    AND partition_date IN (SELECT partition_date FROM staged_days)
    AND loaded_at <= (SELECT max(loaded_at) FROM staged_days)
    AND IDHISTORIQUE IN (SELECT IDHISTORIQUE FROM staged);
