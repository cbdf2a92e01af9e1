-- The columns of the table $table of the schema $schema, in their order (for a copy between
-- warehouses: the names as this engine keeps them, upper-case or folded to lower-case).
SELECT column_name::VARCHAR
FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = $schema AND table_name = $table
ORDER BY ordinal_position;
