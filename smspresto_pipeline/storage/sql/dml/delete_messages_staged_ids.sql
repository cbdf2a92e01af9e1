-- A message belongs to the day it was read for last: if it was stored under another day
-- (the account's time zone changed, say), that row goes, so history_id stays unique within the
-- account (another account's message of the same id is another message).
DELETE FROM smspresto.messages
WHERE account = (SELECT any_value(account) FROM staged_days)
    AND history_id IN (SELECT history_id FROM staged_messages);
