-- The staged rows typed as smspresto.messages' columns (and row_no, the order they were
-- received in), the one projection that the day's deletes and inserts read.
-- Typing happens here: what the API may send for "no value" (empty strings, MySQL zero dates
-- such as 0000-00-00 00:00:00) becomes NULL instead of failing the day, as DuckDB's TRY_CAST
-- does: pg_input_is_valid (PostgreSQL 16+) tells a value its type can read.
-- recipient, country, carrier and status were derived in Python while staging (norm_*).
-- Rows without a numeric IDHISTORIQUE stay in archive_raw only.
-- A temporary view: it lives in the day's transaction (drop_staged_messages_view.sql ends it),
-- and PostgreSQL inlines it into each statement that reads it.
CREATE OR REPLACE TEMP VIEW staged_messages AS
SELECT
    CASE WHEN pg_input_is_valid(trim(idhistorique), 'bigint')
        THEN trim(idhistorique)::BIGINT END AS history_id,
    norm_recipient AS recipient,
    his_expediteur AS sender,
    norm_recipient_valid AS recipient_valid,
    his_message AS message,
    his_statut AS status_code,
    norm_status AS status,
    CASE WHEN pg_input_is_valid(trim(his_nombresms), 'integer')
        THEN trim(his_nombresms)::INTEGER END AS segments,
    CASE WHEN pg_input_is_valid(trim(his_dateheurecrea), 'timestamp')
        THEN trim(his_dateheurecrea)::TIMESTAMP END AS created_at,
    CASE WHEN pg_input_is_valid(trim(his_dateheureenvoi), 'timestamp')
        THEN trim(his_dateheureenvoi)::TIMESTAMP END AS sent_at,
    CASE WHEN pg_input_is_valid(trim(iddateheure), 'timestamp')
        THEN trim(iddateheure)::TIMESTAMP END AS queued_at,
    cpt_ref AS account_ref,
    idsmsfilattente AS queue_id,
    nomcontact AS contact_name,
    norm_country AS country,
    norm_carrier AS carrier,
    (SELECT max(account) FROM staged_days) AS account,
    partition_date,
    (SELECT max(loaded_at) FROM staged_days) AS loaded_at,
    row_no
FROM staged
WHERE pg_input_is_valid(trim(idhistorique), 'bigint');
