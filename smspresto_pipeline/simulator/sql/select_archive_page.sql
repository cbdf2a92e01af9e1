-- One list-archive page: every field as text, statuses as seen at :now.
-- The page's ids come from the covering index alone, in its order, so a deep offset skips
-- index entries instead of sorting the whole range. (created_date, id) is id order because
-- ids follow creation time: history never lies in the future and new sends are stamped now.
WITH page AS (
    SELECT id
    FROM messages
    WHERE created_date BETWEEN :date_from AND :date_to
    ORDER BY created_date, id
    LIMIT :limit OFFSET :offset
)
SELECT
    CAST(m.id AS TEXT),
    m.recipient,
    m.message,
    CASE WHEN m.settle_at <= :now THEN m.status ELSE '0' END,
    CAST(m.segments AS TEXT),
    m.created_at,
    m.sent_at,
    m.queued_at,
    :account_ref,
    CAST(m.queue_id AS TEXT),
    m.sender,
    m.contact_name
FROM page
JOIN messages AS m ON m.id = page.id
ORDER BY m.created_date, m.id
