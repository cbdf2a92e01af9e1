SELECT count(*) FROM smspresto.messages;
