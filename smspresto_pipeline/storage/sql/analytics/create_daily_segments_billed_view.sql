-- Tables unqualified: a view binds them in its own schema, whatever the file's catalog name.
-- Segments billed per day: every segment of every message the API accepted is billed,
-- whatever its delivery status; per account (each is billed on its own).
CREATE OR REPLACE VIEW smspresto.daily_segments_billed AS
SELECT
    partition_date,
    count(*) AS messages,
    coalesce(sum(segments), 0) AS segments,
    count(*) FILTER (WHERE segments > 1) AS multipart_messages,
    account
FROM messages
GROUP BY partition_date, account;
