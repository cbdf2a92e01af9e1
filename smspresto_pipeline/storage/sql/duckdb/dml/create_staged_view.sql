-- The rows being written: the days staged in memory (an Arrow table), then the days spilled
-- to Parquet (read by DuckDB itself), in the order they were received.
CREATE OR REPLACE TEMP VIEW staged AS
SELECT * FROM staged_memory
UNION ALL
SELECT * FROM staged_files;
