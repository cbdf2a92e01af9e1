-- The rows being written, all staged in memory (an Arrow table).
CREATE OR REPLACE TEMP VIEW staged AS
SELECT * FROM staged_memory;
