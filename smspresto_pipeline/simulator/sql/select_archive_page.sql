-- One list-archive page: every field as text, statuses as seen at :now.
SELECT
    CAST(id AS TEXT),
    recipient,
    message,
    CASE WHEN settle_at <= :now THEN status ELSE '0' END,
    CAST(segments AS TEXT),
    created_at,
    sent_at,
    queued_at,
    :account_ref,
    CAST(queue_id AS TEXT),
    sender,
    contact_name
FROM messages
WHERE created_date BETWEEN :date_from AND :date_to
ORDER BY id
LIMIT :limit OFFSET :offset
