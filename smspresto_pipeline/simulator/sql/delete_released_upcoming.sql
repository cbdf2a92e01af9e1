DELETE FROM upcoming WHERE created_at <= :until
