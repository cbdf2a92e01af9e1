-- intraday_read: the one row of where this read leaves the day (warehouse/intraday.py). A read
-- that started before the one stored (two runs at once, committed out of order) leaves it.
INSERT INTO smspresto.intraday_reads (
    account, partition_date, rows_read, first_pending, paging, complete_until, reads, updated_at
)
SELECT account, partition_date, rows_read, first_pending, paging, complete_until, 1, updated_at
FROM intraday_read
ON CONFLICT (account, partition_date) DO UPDATE SET
    rows_read = excluded.rows_read,
    first_pending = excluded.first_pending,
    paging = excluded.paging,
    complete_until = excluded.complete_until,
    reads = smspresto.intraday_reads.reads + 1,
    updated_at = excluded.updated_at
WHERE smspresto.intraday_reads.complete_until <= excluded.complete_until;
