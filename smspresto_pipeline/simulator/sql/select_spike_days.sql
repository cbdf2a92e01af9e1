SELECT day FROM seeded_days WHERE spike = 1 ORDER BY day
