-- The tables of a schema in the attached warehouse (a file made by an older version may lack
-- some; a user's own file may have none yet).
SELECT table_name
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = $schema;
