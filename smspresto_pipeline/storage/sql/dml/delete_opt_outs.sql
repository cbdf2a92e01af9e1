-- Remove numbers (E.164); RETURNING names those that were opted out.
DELETE FROM smspresto.opt_outs
WHERE recipient IN (SELECT recipient FROM removed_opt_outs)
RETURNING recipient;
