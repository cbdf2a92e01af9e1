-- The first $limit messages of $account on each day of $days (by creation time), in one pass over the table
-- (min_by with a count keeps the first ones of each group without sorting the days).
SELECT
    partition_date,
    unnest(
        min_by(
            {
                history_id: history_id,
                created_at: created_at,
                sender: sender,
                recipient: recipient,
                status: status,
                segments: segments,
                country: country,
                carrier: carrier
            },
            (created_at, history_id),
            $limit
        ),
        max_depth := 2
    )
FROM smspresto.messages
WHERE account = $account AND partition_date IN (SELECT unnest($days::DATE[]))
GROUP BY partition_date
ORDER BY partition_date;
