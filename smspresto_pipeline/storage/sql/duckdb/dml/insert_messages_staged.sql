-- staged_messages: the staged rows typed (create_staged_messages_view.sql).
-- A history_id staged twice fails the primary key: the day is then written again with
-- insert_messages_staged_deduplicated.sql (rare: the client drops repeats within a day).
INSERT INTO smspresto.messages BY NAME
SELECT * EXCLUDE (row_no) FROM staged_messages;
