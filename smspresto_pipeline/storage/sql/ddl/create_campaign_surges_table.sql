-- One row per surge a person confirmed: a send run launched with confirm_volume after the
-- volume breaker stopped a batch, and what it said of the rows its first batch left (rest):
--   expire   held; the next runs send what the caps allow, the rest expires after validity
--   keep     held and never expired: the next runs send them all, within the caps and quiet hours
--   drop     recorded skipped (surge_dropped), never sent
-- Written in the same transaction as the run's claims. The held rows of a 'keep' confirmation
-- are the campaign's held rows whose run_id is the confirming run's. Times are UTC.
CREATE TABLE IF NOT EXISTS smspresto.campaign_surges (
    campaign VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    confirmed_at TIMESTAMP NOT NULL,
    found_rows INTEGER NOT NULL CHECK (found_rows >= 0),
    threshold INTEGER NOT NULL CHECK (threshold >= 0),
    rest VARCHAR NOT NULL CHECK (rest IN ('expire', 'keep', 'drop')),
    rest_rows INTEGER NOT NULL CHECK (rest_rows >= 0),
    PRIMARY KEY (campaign, run_id)
);
