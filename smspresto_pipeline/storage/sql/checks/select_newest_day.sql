-- The newest day stored (NULL while the table is empty): the failure-rate check lets only the
-- spikes of the days just before it pause campaigns.
-- Of $account (of every account when NULL).
SELECT max(partition_date) FROM smspresto.messages WHERE account = coalesce($account, account);
