-- The circuit breaker: one row per trip (a pause of every campaign). A trip is active until
-- it is resumed: by the check that tripped it passing again for its partition, or by a person.
-- Campaigns send only while no trip is active. Rows are never deleted: they are the history.
--   source          what tripped it: check:<check name>, cli:<user>, job:<job name>:<who>
--   partition_key   the check's partition (a day) or NULL (a pause by hand)
--   resumed_by      check:<check name> when it passed again, else the person who resumed
-- Times are UTC.
CREATE TABLE IF NOT EXISTS smspresto.campaign_pauses (
    source VARCHAR NOT NULL,
    partition_key VARCHAR,
    reason VARCHAR NOT NULL,
    tripped_at TIMESTAMP NOT NULL,
    resumed_at TIMESTAMP,
    resumed_by VARCHAR,
    resume_reason VARCHAR,
    CHECK ((resumed_at IS NULL) = (resumed_by IS NULL))
);
