-- An intraday read's messages replace their earlier readings (of any day: a message belongs to
-- the day it was read for last), unless a write that started after this read stored them.
DELETE FROM smspresto.messages
WHERE account = (SELECT max(account) FROM staged_days)
    AND loaded_at <= (SELECT max(loaded_at) FROM staged_days)
    AND history_id IN (SELECT history_id FROM staged_messages);
