-- The whole archive's totals by status, for comparison with the account counters; final rows
-- written after $taken_at (the snapshot's time, UTC) may have settled after that snapshot.
-- Of $account (every account when NULL).
SELECT
    count(*) AS messages,
    count(*) FILTER (WHERE status = 'delivered') AS delivered,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'pending') AS pending,
    count(*) FILTER (WHERE status NOT IN ('delivered', 'failed', 'pending')) AS other,
    count(*) FILTER (WHERE loaded_at > $taken_at) AS loaded_after_snapshot,
    min(partition_date) AS first_day,
    max(partition_date) AS last_day
FROM smspresto.messages
WHERE account = coalesce($account, account);
