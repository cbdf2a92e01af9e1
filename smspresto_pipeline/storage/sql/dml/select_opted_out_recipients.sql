-- Which of some numbers (E.164) are opted out.
SELECT opt_outs.recipient
FROM smspresto.opt_outs AS opt_outs
WHERE opt_outs.recipient IN (SELECT recipient FROM checked_recipients);
