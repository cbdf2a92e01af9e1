-- The snapshots of $account.
SELECT count(*) FROM smspresto.account_snapshots WHERE account = $account;
