-- The messages of $account.
SELECT count(*) FROM smspresto.messages WHERE account = $account;
