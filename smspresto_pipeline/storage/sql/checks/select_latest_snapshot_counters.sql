-- The most recent reading of the delivery counters (taken_at is UTC).
SELECT taken_at, sent, success, failed
FROM smspresto.account_snapshots
ORDER BY taken_at DESC
LIMIT 1;
