-- An intraday read's messages replace their earlier readings (of any day: a message belongs to
-- the day it was read for last), unless a write that started after this read stored them.
-- PostgreSQL's copy of the portable file: the ids as an array, so that the primary key
-- (account, history_id) finds each one (delete_messages_staged_ids.sql says why).
DELETE FROM smspresto.messages
WHERE account = (SELECT max(account) FROM staged_days)
    AND loaded_at <= (SELECT max(loaded_at) FROM staged_days)
    AND history_id = ANY(ARRAY(SELECT history_id FROM staged_messages));
