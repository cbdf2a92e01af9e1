-- Messages of one campaign that went (or may have gone) since a time: the daily cap's figure.
SELECT count(*)
FROM smspresto.outbox
WHERE campaign = $campaign
    AND list_contains($states::VARCHAR[], state)
    AND coalesce(sent_at, created_at) >= $since::TIMESTAMP;
