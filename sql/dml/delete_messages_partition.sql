DELETE FROM smspresto.messages WHERE partition_date = $partition_date;
