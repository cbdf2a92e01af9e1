-- The staged rows typed as smspresto.messages' columns (and row_no, the order they were
-- received in), the one projection that the day's deletes and inserts read.
-- Typing happens here: TRY_CAST turns what the API may send for "no value" (empty strings,
-- MySQL zero dates such as 0000-00-00 00:00:00) into NULL instead of failing the day.
-- recipient, country, carrier and status were derived in Python while staging (norm_*).
-- Rows without a numeric IDHISTORIQUE stay in archive_raw only.
-- A temporary view: it lives in the day's transaction (drop_staged_messages_view.sql ends it),
-- and DuckDB inlines it into each statement that reads it.
CREATE OR REPLACE TEMP VIEW staged_messages AS
SELECT
    TRY_CAST(trim(IDHISTORIQUE) AS BIGINT) AS history_id,
    norm_recipient AS recipient,
    HIS_EXPEDITEUR AS sender,
    norm_recipient_valid AS recipient_valid,
    HIS_MESSAGE AS message,
    HIS_STATUT AS status_code,
    norm_status AS status,
    TRY_CAST(trim(HIS_NOMBRESMS) AS INTEGER) AS segments,
    TRY_CAST(trim(HIS_DATEHEURECREA) AS TIMESTAMP) AS created_at,
    TRY_CAST(trim(HIS_DATEHEUREENVOI) AS TIMESTAMP) AS sent_at,
    TRY_CAST(trim(IDDATEHEURE) AS TIMESTAMP) AS queued_at,
    CPT_REF AS account_ref,
    IDSMSFILATTENTE AS queue_id,
    NOMCONTACT AS contact_name,
    norm_country AS country,
    norm_carrier AS carrier,
    (SELECT any_value(account) FROM staged_days) AS account,
    partition_date,
    (SELECT any_value(loaded_at) FROM staged_days) AS loaded_at,
    row_no
FROM staged
WHERE TRY_CAST(trim(IDHISTORIQUE) AS BIGINT) IS NOT NULL;
