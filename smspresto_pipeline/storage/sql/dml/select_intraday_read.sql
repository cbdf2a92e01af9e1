SELECT rows_read, first_pending, paging, complete_until, reads
FROM smspresto.intraday_reads
WHERE account = $account AND partition_date = $day;
