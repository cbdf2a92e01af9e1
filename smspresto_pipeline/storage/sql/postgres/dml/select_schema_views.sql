-- The views of a schema in the database.
SELECT table_name::VARCHAR
FROM information_schema.views
WHERE table_schema = $schema
ORDER BY table_name;
