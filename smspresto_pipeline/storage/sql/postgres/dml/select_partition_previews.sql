-- The first $limit messages of $account on each day of $days (by creation time).
SELECT
    partition_date,
    history_id,
    created_at,
    sender,
    recipient,
    status,
    segments,
    country,
    carrier
FROM (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY partition_date ORDER BY created_at, history_id
        ) AS position
    FROM smspresto.messages
    WHERE account = $account AND partition_date = ANY($days::DATE[])
) AS numbered
WHERE position <= $limit
ORDER BY partition_date, position;
