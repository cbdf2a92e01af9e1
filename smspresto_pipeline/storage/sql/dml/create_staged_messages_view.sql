-- The staged rows as smspresto.messages' columns (and row_no, the order they were received
-- in), the one projection that the day's deletes and inserts read.
-- Typed while staging (storage/casting.py: typed_*), whatever the engine: what the API may send
-- for "no value" (empty strings, MySQL zero dates such as 0000-00-00 00:00:00) is NULL there.
-- recipient, country, carrier and status were derived in Python while staging (norm_*).
-- Rows without a numeric IDHISTORIQUE stay in archive_raw only.
-- A temporary view: it lives in the day's transaction (drop_staged_messages_view.sql ends it),
-- and the engine inlines it into each statement that reads it.
CREATE OR REPLACE TEMP VIEW staged_messages AS
SELECT
    typed_history_id AS history_id,
    norm_recipient AS recipient,
    HIS_EXPEDITEUR AS sender,
    norm_recipient_valid AS recipient_valid,
    HIS_MESSAGE AS message,
    HIS_STATUT AS status_code,
    norm_status AS status,
    typed_segments AS segments,
    typed_created_at AS created_at,
    typed_sent_at AS sent_at,
    typed_queued_at AS queued_at,
    CPT_REF AS account_ref,
    IDSMSFILATTENTE AS queue_id,
    NOMCONTACT AS contact_name,
    norm_country AS country,
    norm_carrier AS carrier,
    (SELECT max(account) FROM staged_days) AS account,
    partition_date,
    (SELECT max(loaded_at) FROM staged_days) AS loaded_at,
    row_no
FROM staged
WHERE typed_history_id IS NOT NULL;
