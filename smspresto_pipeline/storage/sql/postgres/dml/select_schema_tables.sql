-- The tables of a schema in the database (a user's own database may have none yet).
SELECT table_name::VARCHAR
FROM information_schema.tables
WHERE table_schema = $schema AND table_type = 'BASE TABLE';
