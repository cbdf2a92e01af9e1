-- Messages one campaign tried to send since a time: the daily cap's figure. A row not sent
-- (yet) counts at its last change (its claim, a held row's move to pending, its failure):
-- a row held overnight and sent this morning counts this morning.
SELECT count(*)
FROM smspresto.outbox
WHERE campaign = $campaign
    AND state = ANY($states::VARCHAR[])
    AND coalesce(sent_at, updated_at) >= $since::TIMESTAMP;
