-- A message belongs to the day it was read for last: if it was stored under another day
-- (the account's time zone changed, say), that row goes, so history_id stays unique within the
-- account (another account's message of the same id is another message).
-- PostgreSQL's copy of the portable file: the ids as an array, so that the primary key
-- (account, history_id) finds each one, instead of a join that reads the account's history.
DELETE FROM smspresto.messages
WHERE account = (SELECT max(account) FROM staged_days)
    AND history_id = ANY(ARRAY(SELECT history_id FROM staged_messages));
