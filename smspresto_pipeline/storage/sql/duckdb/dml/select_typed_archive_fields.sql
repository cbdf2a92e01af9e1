-- fields: the API's fields that the history types (every one a string), for a batch of staged
-- rows; one typed row per row, in the same order.
-- What the API may send for "no value" (empty strings, MySQL zero dates such as
-- 0000-00-00 00:00:00) becomes NULL instead of failing the day: TRY_CAST. So do times that no
-- calendar of the history's holds (before year 1, after 9999): PostgreSQL has no year 0, and
-- both engines must store the same rows.
-- Run by an in-memory DuckDB while staging, whatever engine the warehouse is: each engine then
-- stores the same values, typed once.
WITH typed AS (
    SELECT
        TRY_CAST(trim(IDHISTORIQUE) AS BIGINT) AS history_id,
        TRY_CAST(trim(HIS_NOMBRESMS) AS INTEGER) AS segments,
        TRY_CAST(trim(HIS_DATEHEURECREA) AS TIMESTAMP) AS created_at,
        TRY_CAST(trim(HIS_DATEHEUREENVOI) AS TIMESTAMP) AS sent_at,
        TRY_CAST(trim(IDDATEHEURE) AS TIMESTAMP) AS queued_at
    FROM fields
)
SELECT
    history_id,
    segments,
    CASE WHEN created_at BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31 23:59:59.999999'
        THEN created_at END AS created_at,
    CASE WHEN sent_at BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31 23:59:59.999999'
        THEN sent_at END AS sent_at,
    CASE WHEN queued_at BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31 23:59:59.999999'
        THEN queued_at END AS queued_at
FROM typed;
