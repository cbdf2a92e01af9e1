-- The columns of the primary key of the table $table of the schema $schema, in the key's order
-- (none for a table without one).
SELECT k.column_name::VARCHAR
FROM information_schema.table_constraints AS c
JOIN information_schema.key_column_usage AS k
    ON k.constraint_catalog = c.constraint_catalog
    AND k.constraint_schema = c.constraint_schema
    AND k.constraint_name = c.constraint_name
    AND k.table_name = c.table_name
WHERE c.constraint_type = 'PRIMARY KEY'
    AND c.table_catalog = current_database()
    AND c.table_schema = $schema
    AND c.table_name = $table
ORDER BY k.ordinal_position;
