-- One row per surge the volume breaker holds for a person's confirmation: a campaign's sensor
-- found more new rows than its threshold and requested no run. Written by the sensor the first
-- tick it holds the surge (one open row per campaign: later ticks that hold it again write
-- nothing); ended (ended_at) by the first tick that holds no surge any more, or by the run that
-- confirms it (in the transaction of its claims). The alerting sensor tells each open row once.
--   found_rows   the new rows found the first tick
--   threshold    the volume breaker's threshold then
--   resolve      how to confirm it, in the campaign engine's words (the job and its run config)
-- Times are UTC.
CREATE TABLE IF NOT EXISTS smspresto.campaign_surges_held (
    campaign VARCHAR NOT NULL,
    held_at TIMESTAMP NOT NULL,
    found_rows INTEGER NOT NULL CHECK (found_rows >= 0),
    threshold INTEGER NOT NULL CHECK (threshold >= 0),
    resolve VARCHAR NOT NULL,
    ended_at TIMESTAMP,
    PRIMARY KEY (campaign, held_at)
);
