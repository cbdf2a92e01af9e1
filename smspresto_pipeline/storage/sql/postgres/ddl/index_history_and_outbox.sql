-- PostgreSQL's own indexes (after the tables: the files run by name, creates first). DuckDB
-- needs none of them: its zone maps skip what a day's delete or a cap's count does not read.
-- A day's replacement deletes an account's days from both history tables: without these it
-- would read the account's whole history for each day it writes.
CREATE INDEX IF NOT EXISTS messages_account_day ON smspresto.messages (account, partition_date);
CREATE INDEX IF NOT EXISTS archive_raw_account_day
    ON smspresto.archive_raw (account, partition_date);
-- The frequency cap counts each capped recipient's recent messages across every campaign.
CREATE INDEX IF NOT EXISTS outbox_recipient ON smspresto.outbox (recipient);
