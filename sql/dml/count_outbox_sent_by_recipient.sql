-- Messages that went (or may have gone) to each of some recipients since a time, across every
-- campaign: the frequency cap's figure. Recipients with none are absent.
SELECT recipient, count(*) AS messages
FROM smspresto.outbox
WHERE recipient IN (SELECT recipient FROM capped_recipients)
    AND list_contains($states::VARCHAR[], state)
    AND coalesce(sent_at, created_at) >= $since::TIMESTAMP
GROUP BY recipient;
