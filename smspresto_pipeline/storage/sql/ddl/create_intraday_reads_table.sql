-- One row per (account, day) read while the day goes (ingest/intraday.py, the asset
-- archive_messages_today): where the next read resumes, and how far the stored day is complete.
-- Written in the transaction of the rows it describes (runs are separate processes); deleted by
-- a replacement of the day (the daily partition), whose rows it no longer describes.
--   rows_read       the listing's offset past the last row read
--   first_pending   the offset of the first row still pending then (rows_read when none was):
--                   the next read starts there, rows before it being final
--   paging          what list-archive's from/to were proven to mean (count, indexes), or unknown
--   complete_until  when the latest read started (UTC): every message created before it was in
--                   the listing it read, so stored; reconciliation's coverage of the day
--   reads           reads of the day stored (a read older than the one stored is not)
-- Times are UTC.
CREATE TABLE IF NOT EXISTS smspresto.intraday_reads (
    account VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    rows_read BIGINT NOT NULL CHECK (rows_read >= 0),
    first_pending BIGINT NOT NULL CHECK (first_pending >= 0),
    paging VARCHAR NOT NULL,
    complete_until TIMESTAMP NOT NULL,
    reads INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account, partition_date)
);
