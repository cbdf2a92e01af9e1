-- The typed view of the staged rows ends with the day's write (it reads relations that go).
DROP VIEW staged_messages;
