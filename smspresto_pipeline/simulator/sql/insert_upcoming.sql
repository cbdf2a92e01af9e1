INSERT INTO upcoming (
    created_date, created_at, sent_at, queued_at, recipient, message, segments, sender,
    contact_name, queue_id, status, settle_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
