-- The messages of $account (of every account when it is NULL).
SELECT count(*) FROM smspresto.messages WHERE account = coalesce($account, account);
