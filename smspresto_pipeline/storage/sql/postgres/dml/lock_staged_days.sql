-- The first statement of a day's replacement: the days of staged_days are locked until the
-- transaction ends, so that two processes writing the same day take turns (the second one's
-- delete then sees the first one's rows, and the day is written once), while writers of other
-- days go on side by side. In the days' order, so two writers of overlapping days cannot
-- deadlock. The key: the two-integer form of pg_advisory_xact_lock, the account's hash (a day
-- of one account's history; two accounts' same day go on side by side) and the day's number
-- since 1970-01-01.
SELECT pg_advisory_xact_lock(
    hashtext('smspresto.day:' || account), partition_date - DATE '1970-01-01'
)
FROM (SELECT account, partition_date FROM staged_days ORDER BY partition_date) AS days;
