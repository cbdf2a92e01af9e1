-- staged_messages: the staged rows typed (create_staged_messages_view.sql).
-- A history_id staged twice keeps its last reading (the highest row_no); a day's rows are of
-- one account (staged_days), so the key (account, history_id) is history_id here.
INSERT INTO smspresto.messages (
    history_id, recipient, sender, recipient_valid, message, status_code, status, segments,
    created_at, sent_at, queued_at, account_ref, queue_id, contact_name, country, carrier,
    account, partition_date, loaded_at
)
SELECT DISTINCT ON (history_id)
    history_id, recipient, sender, recipient_valid, message, status_code, status, segments,
    created_at, sent_at, queued_at, account_ref, queue_id, contact_name, country, carrier,
    account, partition_date, loaded_at
FROM staged_messages
ORDER BY history_id, row_no DESC, partition_date DESC;
