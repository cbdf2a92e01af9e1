SELECT count(*) FROM smspresto.account_snapshots;
