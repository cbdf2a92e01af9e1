SELECT recipient, reason, source, created_at
FROM smspresto.opt_outs
ORDER BY created_at, recipient;
