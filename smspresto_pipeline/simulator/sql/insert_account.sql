INSERT INTO account (
    id, account_ref, stock, contacts, groups_total, orders, bills, scheduled, predefined,
    seed, created_at
) VALUES (1, :account_ref, :stock, :contacts, :groups, :orders, :bills, :scheduled,
    :predefined, :seed, :created_at)
