-- Tables are named without their schema: a view binds them in its own schema (smspresto),
-- so it works whatever name the DuckDB file is opened under.
-- Per day, sender and account: volumes by status. failure_rate counts final messages only
-- (delivered + failed); it is NULL while none is final, so a quiet day never reads as 0 %.
CREATE OR REPLACE VIEW smspresto.daily_delivery_by_sender AS
SELECT
    partition_date,
    coalesce(sender, '') AS sender,
    count(*) AS messages,
    count(*) FILTER (WHERE status = 'delivered') AS delivered,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'pending') AS pending,
    count(*) FILTER (WHERE status NOT IN ('delivered', 'failed', 'pending')) AS unknown,
    coalesce(sum(segments), 0) AS segments,
    -- Cast: PostgreSQL divides integers as integers.
    CAST(count(*) FILTER (WHERE status = 'failed') AS DOUBLE PRECISION)
        / nullif(count(*) FILTER (WHERE status IN ('delivered', 'failed')), 0) AS failure_rate,
    account
FROM messages
GROUP BY partition_date, coalesce(sender, ''), account;
