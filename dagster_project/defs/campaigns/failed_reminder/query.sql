-- The contacts whose last message failed: one row per such message (dedup_key holds its
-- history_id, so a failure gets one reminder, and a later failure another).
-- A number reminded by this campaign in the last 7 days is left alone: the reminder itself
-- fails when the number is dead, and must not start a reminder a day.
-- Written to run alike on DuckDB and PostgreSQL: the window function in a subquery (DuckDB's
-- QUALIFY is not PostgreSQL's), INTERVAL '7 days', and the date formatted by message.j2.
WITH latest AS (
    SELECT recipient, history_id, status, contact_name, created_at
    FROM (
        SELECT
            recipient,
            history_id,
            status,
            contact_name,
            created_at,
            row_number() OVER (
                PARTITION BY recipient ORDER BY created_at DESC, history_id DESC
            ) AS newest
        FROM smspresto.messages
        WHERE recipient_valid
    ) AS numbered
    WHERE newest = 1
)
SELECT
    latest.recipient,
    'failed:' || latest.history_id AS dedup_key,
    nullif(trim(latest.contact_name), '') AS contact_name,
    latest.created_at AS failed_on
FROM latest
WHERE latest.status = 'failed'
    AND NOT EXISTS (
        SELECT 1
        FROM smspresto.outbox AS reminded
        WHERE reminded.campaign = 'failed_reminder'
            AND reminded.recipient = latest.recipient
            AND reminded.state IN ('pending', 'held', 'sent', 'ambiguous')
            AND reminded.created_at > (now() AT TIME ZONE 'UTC') - INTERVAL '7 days'
    )
ORDER BY latest.created_at, latest.history_id
