DELETE FROM smspresto.archive_raw WHERE partition_date = $partition_date;
