-- staged_messages: an intraday read's rows typed (create_staged_messages_view.sql), each id once
-- (its last reading); those still stored (by a write that started after this read) stay.
INSERT INTO smspresto.messages (
    history_id, recipient, sender, recipient_valid, message, status_code, status, segments,
    created_at, sent_at, queued_at, account_ref, queue_id, contact_name, country, carrier,
    account, partition_date, loaded_at
)
SELECT
    history_id, recipient, sender, recipient_valid, message, status_code, status, segments,
    created_at, sent_at, queued_at, account_ref, queue_id, contact_name, country, carrier,
    account, partition_date, loaded_at
FROM (
    SELECT
        *,
        row_number() OVER (PARTITION BY history_id ORDER BY row_no DESC) AS reading
    FROM staged_messages
) AS s
WHERE s.reading = 1
    AND NOT EXISTS (
        SELECT 1
        FROM smspresto.messages AS m
        WHERE m.account = s.account AND m.history_id = s.history_id
    );
