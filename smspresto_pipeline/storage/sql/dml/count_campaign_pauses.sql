-- How many trips were ever recorded (the breaker's generation).
SELECT count(*) FROM smspresto.campaign_pauses;
