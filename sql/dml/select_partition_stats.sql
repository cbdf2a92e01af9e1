SELECT
    count(*) AS messages,
    count_if(status = 'delivered') AS delivered,
    count_if(status = 'failed') AS failed,
    count_if(status = 'pending') AS pending,
    count_if(status NOT IN ('delivered', 'failed', 'pending')) AS unknown,
    coalesce(sum(segments), 0) AS segments,
    (SELECT count(*) FROM smspresto.archive_raw WHERE partition_date = $partition_date)
        AS raw_rows,
    (SELECT count(*) FROM smspresto.messages) AS table_rows
FROM smspresto.messages
WHERE partition_date = $partition_date;
