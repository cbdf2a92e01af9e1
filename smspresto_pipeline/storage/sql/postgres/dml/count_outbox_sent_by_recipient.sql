-- Messages that went (or may have gone) to each of some recipients since a time, across every
-- campaign: the frequency cap's figure. Recipients with none are absent. A row not sent (yet)
-- counts at its last change (its claim, a held row's move to pending).
-- The recipients as an array: the index on recipient then finds theirs alone, where a join
-- read the whole outbox in the index's order.
SELECT recipient, count(*) AS messages
FROM smspresto.outbox
WHERE recipient = ANY(ARRAY(SELECT recipient FROM capped_recipients))
    AND state = ANY($states::VARCHAR[])
    AND coalesce(sent_at, updated_at) >= $since::TIMESTAMP
GROUP BY recipient;
