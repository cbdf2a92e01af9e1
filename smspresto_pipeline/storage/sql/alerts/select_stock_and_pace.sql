-- The account's latest stock (NULL: no snapshot yet) and when it was read, and the SMS parts
-- its history billed over the days from $since to the day before $today: the recent pace.
SELECT
    (
        SELECT stock FROM smspresto.account_snapshots
        WHERE account = $account ORDER BY taken_at DESC LIMIT 1
    ) AS stock,
    (
        SELECT max(taken_at) FROM smspresto.account_snapshots WHERE account = $account
    ) AS taken_at,
    (
        SELECT coalesce(sum(segments), 0) FROM smspresto.messages
        WHERE account = $account AND partition_date >= $since AND partition_date < $today
    ) AS parts;
