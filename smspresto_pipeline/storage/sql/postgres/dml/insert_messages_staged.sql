-- staged_messages: the staged rows typed (create_staged_messages_view.sql).
-- A history_id staged twice fails the primary key: the day is then written again with
-- insert_messages_staged_deduplicated.sql (rare: the client drops repeats within a day).
INSERT INTO smspresto.messages (
    history_id, recipient, sender, recipient_valid, message, status_code, status, segments,
    created_at, sent_at, queued_at, account_ref, queue_id, contact_name, country, carrier,
    account, partition_date, loaded_at
)
SELECT
    history_id, recipient, sender, recipient_valid, message, status_code, status, segments,
    created_at, sent_at, queued_at, account_ref, queue_id, contact_name, country, carrier,
    account, partition_date, loaded_at
FROM staged_messages;
