-- The newest day stored whole (NULL while there is none): the failure-rate check lets only the
-- spikes of the days just before it pause campaigns, and the freshness check judges it. A day
-- still read intraday (its row in intraday_reads, deleted when the daily partition replaces the
-- day) is not whole: today's rows, or yesterday's while the nightly run has not written it,
-- must not make a history look fresh.
-- Of $account (of every account when NULL).
SELECT max(m.partition_date)
FROM smspresto.messages AS m
WHERE m.account = coalesce($account, m.account)
    AND NOT EXISTS (
        SELECT 1
        FROM smspresto.intraday_reads AS r
        WHERE r.account = m.account AND r.partition_date = m.partition_date
    );
