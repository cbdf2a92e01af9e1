-- Tables unqualified: a view binds them in its own schema, whatever the file's catalog name.
-- Failure rate per destination country and carrier (the operator the number range belongs
-- to), over final messages (delivered + failed).
CREATE OR REPLACE VIEW smspresto.failure_rate_by_carrier AS
SELECT
    coalesce(country, 'unknown') AS country,
    coalesce(carrier, 'unknown') AS carrier,
    count(*) AS messages,
    count_if(status = 'delivered') AS delivered,
    count_if(status = 'failed') AS failed,
    count_if(status = 'failed')
        / nullif(count_if(status IN ('delivered', 'failed')), 0) AS failure_rate
FROM messages
GROUP BY ALL;
