-- Queue ids grow with ids, so the last row holds the largest.
SELECT COALESCE((SELECT queue_id FROM messages ORDER BY id DESC LIMIT 1), 0) + 1
