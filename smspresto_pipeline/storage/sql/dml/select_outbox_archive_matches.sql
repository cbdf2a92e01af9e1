-- Match the ambiguous outbox rows to the archive in one join: same recipient and text, created
-- within the row's window. The archive's created_at is the account's local time ($timezone),
-- the outbox's times are UTC: the archive's times are moved to UTC before comparing (a naive
-- time AT TIME ZONE z is that local time's instant; an instant AT TIME ZONE z, z's local time;
-- alike on both engines, DuckDB's through its ICU extension). When several rows share a
-- recipient and text, the k-th row (by time) takes the k-th archived message in a window, so
-- one archived message never resolves two rows.
-- Only the sending account's archive ($account) is read, for matches and for coverage alike:
-- another account's message to the same number with the same text is not this row's send, and
-- another account's loaded days say nothing of whether this account accepted it.
-- covered: every archive day the window touches was loaded after the window closed (or
-- $ingested_until, given, is past it): an unmatched row was then never accepted. A day's rows
-- read intraday are stamped loaded_at = their read's start, and intraday_reads.complete_until
-- says how far the day is complete even when the latest read found no row to write.
WITH ambiguous AS (
    SELECT
        campaign,
        dedup_key,
        recipient,
        message,
        updated_at - $before_seconds::FLOAT8 * INTERVAL '1 second' AS window_start,
        updated_at + $after_seconds::FLOAT8 * INTERVAL '1 second' AS window_end,
        row_number() OVER (
            PARTITION BY recipient, message ORDER BY updated_at, campaign, dedup_key
        ) AS position
    FROM smspresto.outbox
    WHERE state = 'ambiguous'
        AND ($campaign::VARCHAR IS NULL OR campaign = $campaign::VARCHAR)
),
archived AS (
    SELECT DISTINCT
        m.history_id,
        m.recipient,
        m.message,
        m.created_at AT TIME ZONE $timezone::VARCHAR AT TIME ZONE 'UTC' AS created_utc
    FROM smspresto.messages AS m
    INNER JOIN ambiguous AS a
        ON m.account = $account::VARCHAR
        AND m.recipient = a.recipient
        AND m.message = a.message
        AND m.created_at AT TIME ZONE $timezone::VARCHAR AT TIME ZONE 'UTC'
        BETWEEN a.window_start AND a.window_end
),
ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY recipient, message ORDER BY created_utc, history_id
        ) AS position
    FROM archived
),
loaded AS (
    SELECT partition_date, max(loaded_until) AS loaded_until
    FROM (
        SELECT partition_date, max(loaded_at) AS loaded_until
        FROM smspresto.messages
        WHERE account = $account::VARCHAR
        GROUP BY partition_date
        UNION ALL
        -- A day read while it goes is complete up to when its latest read started (never
        -- when that read was stored: a message created while it went on may be missing).
        SELECT partition_date, complete_until
        FROM smspresto.intraday_reads
        WHERE account = $account::VARCHAR
    ) AS days
    GROUP BY partition_date
)
SELECT
    a.campaign,
    a.dedup_key,
    r.history_id,
    r.created_utc AS archived_at,
    coalesce(
        $ingested_until::TIMESTAMP >= a.window_end,
        first_day.loaded_until >= a.window_end AND last_day.loaded_until >= a.window_end,
        false
    ) AS covered
FROM ambiguous AS a
LEFT JOIN ranked AS r
    ON r.recipient = a.recipient
    AND r.message = a.message
    AND r.position = a.position
    AND r.created_utc BETWEEN a.window_start AND a.window_end
LEFT JOIN loaded AS first_day
    ON first_day.partition_date
    = CAST(a.window_start AT TIME ZONE 'UTC' AT TIME ZONE $timezone::VARCHAR AS DATE)
LEFT JOIN loaded AS last_day
    ON last_day.partition_date
    = CAST(a.window_end AT TIME ZONE 'UTC' AT TIME ZONE $timezone::VARCHAR AS DATE)
ORDER BY a.campaign, a.dedup_key;
