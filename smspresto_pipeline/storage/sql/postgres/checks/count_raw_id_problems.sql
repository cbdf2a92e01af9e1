-- History ids of each archive day from $first to $last as the API sent them: rows without a
-- numeric IDHISTORIQUE (kept in archive_raw only), ids repeated within the day, and ids that
-- also belong to another day (any day stored, in the range or not) of the same account. Days
-- without rows have no row here. Of $account (every account when NULL; an id is then one
-- account's: another account's same id is another message).
-- DuckDB's file reads the id with TRY_CAST; here pg_input_is_valid (PostgreSQL 16+) tells an
-- id that bigint reads, as postgres/dml/create_staged_messages_view.sql does when it types
-- the day: a row counted missing here is one that messages lacks.
WITH ids AS (
    SELECT
        account,
        partition_date AS day,
        CASE WHEN pg_input_is_valid(trim(IDHISTORIQUE), 'bigint')
            THEN trim(IDHISTORIQUE)::BIGINT END AS history_id
    FROM smspresto.archive_raw
    WHERE account = coalesce($account, account)
),
checked AS (
    SELECT account, day, history_id FROM ids WHERE day BETWEEN $first AND $last
),
per_day AS (
    SELECT
        day,
        count(*) FILTER (WHERE history_id IS NULL) AS missing,
        count(history_id)
            - count(DISTINCT (account, history_id)) FILTER (WHERE history_id IS NOT NULL)
            AS repeated
    FROM checked
    GROUP BY day
),
elsewhere AS (
    SELECT checked.day, count(DISTINCT (checked.account, checked.history_id)) AS in_other_days
    FROM checked
    WHERE EXISTS (
        SELECT 1 FROM ids AS other
        WHERE other.account = checked.account
            AND other.history_id = checked.history_id
            AND other.day <> checked.day
    )
    GROUP BY checked.day
)
SELECT per_day.day, missing, repeated, coalesce(in_other_days, 0) AS in_other_days
FROM per_day
LEFT JOIN elsewhere ON elsewhere.day = per_day.day
ORDER BY per_day.day;
