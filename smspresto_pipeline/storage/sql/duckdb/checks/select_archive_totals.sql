-- The whole archive's totals by status, for comparison with the account counters; final rows
-- written after $loaded_after (the snapshot's time, UTC) may have settled after that snapshot.
-- Of $account (every account when NULL).
SELECT
    count(*) AS messages,
    count_if(status = 'delivered') AS delivered,
    count_if(status = 'failed') AS failed,
    count_if(status = 'pending') AS pending,
    count_if(status NOT IN ('delivered', 'failed', 'pending')) AS other,
    count_if(loaded_at > $loaded_after) AS loaded_after_snapshot,
    min(partition_date) AS first_day,
    max(partition_date) AS last_day
FROM smspresto.messages
WHERE account = coalesce($account, account);
