-- Tables unqualified: a view binds them in its own schema, whatever the file's catalog name.
-- Recipients with at least two failed messages: candidates for cleaning a contact list
-- (a number that keeps failing costs segments and drags the failure rate), per account: each
-- keeps its own list.
CREATE OR REPLACE VIEW smspresto.repeatedly_failing_recipients AS
SELECT
    recipient,
    any_value(recipient_valid) AS recipient_valid,
    any_value(country) AS country,
    any_value(carrier) AS carrier,
    count(*) AS messages,
    count(*) FILTER (WHERE status = 'failed') AS failures,
    count(*) FILTER (WHERE status = 'delivered') AS deliveries,
    max(created_at) FILTER (WHERE status = 'failed') AS last_failure_at,
    account
FROM messages
GROUP BY recipient, account
HAVING count(*) FILTER (WHERE status = 'failed') >= 2;
