-- get-send, get-success, get-failed: the archive as seen at :now.
SELECT
    COUNT(*),
    COALESCE(SUM(settle_at <= :now AND status = '1'), 0),
    COALESCE(SUM(settle_at <= :now AND status = '2'), 0)
FROM messages
