-- Add numbers (E.164); a number already opted out keeps its first reason and source.
-- RETURNING names the numbers added here.
INSERT INTO smspresto.opt_outs (recipient, reason, source, created_at)
SELECT
    recipient,
    $reason::VARCHAR AS reason,
    $source::VARCHAR AS source,
    $now::TIMESTAMP AS created_at
FROM new_opt_outs
ON CONFLICT DO NOTHING
RETURNING recipient;
