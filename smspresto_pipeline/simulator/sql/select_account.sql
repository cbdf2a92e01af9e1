SELECT account_ref, stock, contacts, groups_total, orders, bills, scheduled, predefined
FROM account
WHERE id = 1
