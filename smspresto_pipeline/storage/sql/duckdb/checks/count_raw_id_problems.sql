-- History ids of one archive day ($day) as the API sent them: rows without a numeric
-- IDHISTORIQUE (kept in archive_raw only), ids repeated within the day, and ids that also
-- belong to another day.
WITH day_rows AS (
    SELECT TRY_CAST(trim(IDHISTORIQUE) AS BIGINT) AS history_id
    FROM smspresto.archive_raw
    WHERE partition_date = $day
)
SELECT
    count_if(history_id IS NULL) AS missing,
    count(history_id) - count(DISTINCT history_id) AS repeated,
    (
        SELECT count(DISTINCT TRY_CAST(trim(other.IDHISTORIQUE) AS BIGINT))
        FROM smspresto.archive_raw AS other
        WHERE other.partition_date <> $day
            AND TRY_CAST(trim(other.IDHISTORIQUE) AS BIGINT) IN (
                SELECT history_id FROM day_rows WHERE history_id IS NOT NULL
            )
    ) AS in_other_days
FROM day_rows;
