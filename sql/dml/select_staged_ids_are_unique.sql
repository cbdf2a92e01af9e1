-- True when no history_id comes twice in staged: the usual case (the client drops repeats
-- within a day), which spares insert_messages_staged_deduplicated.sql's window.
SELECT count(history_id) = count(DISTINCT history_id)
FROM (SELECT TRY_CAST(trim(IDHISTORIQUE) AS BIGINT) AS history_id FROM staged);
