-- The most recent reading of the ten account counters.
SELECT stock, sent, success, failed, contacts, groups, orders, bills, scheduled, predefined
FROM smspresto.account_snapshots
ORDER BY taken_at DESC
LIMIT 1;
