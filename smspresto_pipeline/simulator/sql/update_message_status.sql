UPDATE messages SET status = :status, settle_at = 0 WHERE id = :id
