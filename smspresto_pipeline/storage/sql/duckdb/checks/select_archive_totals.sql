-- The whole archive's totals by status, for comparison with the account counters; final rows
-- written after the given time (the snapshot's, UTC) may have settled after that snapshot.
SELECT
    count(*) AS messages,
    count_if(status = 'delivered') AS delivered,
    count_if(status = 'failed') AS failed,
    count_if(status = 'pending') AS pending,
    count_if(status NOT IN ('delivered', 'failed', 'pending')) AS other,
    count_if(loaded_at > ?) AS loaded_after_snapshot,
    min(partition_date) AS first_day,
    max(partition_date) AS last_day
FROM smspresto.messages;
