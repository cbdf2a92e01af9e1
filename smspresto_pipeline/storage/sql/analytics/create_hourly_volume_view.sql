-- Tables unqualified: a view binds them in its own schema, whatever the file's catalog name.
-- Messages created per hour (account's local time), per account.
CREATE OR REPLACE VIEW smspresto.hourly_volume AS
SELECT
    date_trunc('hour', created_at) AS hour,
    count(*) AS messages,
    coalesce(sum(segments), 0) AS segments,
    count(*) FILTER (WHERE status = 'delivered') AS delivered,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    account
FROM messages
WHERE created_at IS NOT NULL
GROUP BY date_trunc('hour', created_at), account;
