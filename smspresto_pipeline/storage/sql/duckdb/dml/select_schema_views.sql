-- The views of a schema in the attached warehouse (its own, not DuckDB's internal ones).
SELECT view_name
FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = $schema AND NOT internal
ORDER BY view_name;
