SELECT COUNT(*) FROM messages WHERE created_date BETWEEN :date_from AND :date_to
