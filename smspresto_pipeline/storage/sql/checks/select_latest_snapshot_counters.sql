-- The most recent reading of the delivery counters of $account (of any account when NULL;
-- taken_at is UTC).
SELECT taken_at, sent, success, failed
FROM smspresto.account_snapshots
WHERE account = coalesce($account, account)
ORDER BY taken_at DESC
LIMIT 1;
