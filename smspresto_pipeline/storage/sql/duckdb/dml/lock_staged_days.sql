-- The first statement of a day's replacement. On DuckDB nothing to lock: one process at a time
-- writes the file (its lock), and this process's writers take turns (storage/locks.py), so two
-- writers of the same day never overlap. PostgreSQL's file locks the days.
SELECT NULL WHERE false;
