-- A message belongs to the day it was read for last: if it was stored under another day
-- (the account's time zone changed, say), that row goes, so history_id stays unique.
DELETE FROM smspresto.messages
WHERE history_id IN (SELECT history_id FROM staged_messages);
