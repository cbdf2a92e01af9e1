-- Tables unqualified: a view binds them in its own schema, whatever the file's catalog name.
-- Failure rate per destination country and carrier (the operator the number range belongs
-- to), over final messages (delivered + failed), per account.
CREATE OR REPLACE VIEW smspresto.failure_rate_by_carrier AS
SELECT
    coalesce(country, 'unknown') AS country,
    coalesce(carrier, 'unknown') AS carrier,
    count(*) AS messages,
    count(*) FILTER (WHERE status = 'delivered') AS delivered,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    -- Cast: PostgreSQL divides integers as integers.
    CAST(count(*) FILTER (WHERE status = 'failed') AS DOUBLE PRECISION)
        / nullif(count(*) FILTER (WHERE status IN ('delivered', 'failed')), 0) AS failure_rate,
    account
FROM messages
GROUP BY coalesce(country, 'unknown'), coalesce(carrier, 'unknown'), account;
