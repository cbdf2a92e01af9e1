INSERT INTO seeded_days (day, messages, failure_rate, spike) VALUES (?, ?, ?, ?)
