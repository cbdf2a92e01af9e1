-- count_if over no row is NULL in DuckDB, hence the coalesce.
SELECT
    count(*) AS messages,
    coalesce(count_if(status = 'delivered'), 0) AS delivered,
    coalesce(count_if(status = 'failed'), 0) AS failed,
    coalesce(count_if(status = 'pending'), 0) AS pending,
    coalesce(count_if(status NOT IN ('delivered', 'failed', 'pending')), 0) AS unknown,
    coalesce(sum(segments), 0) AS segments,
    (SELECT count(*) FROM smspresto.archive_raw WHERE partition_date = $partition_date)
        AS raw_rows,
    (SELECT count(*) FROM smspresto.messages) AS table_rows
FROM smspresto.messages
WHERE partition_date = $partition_date;
