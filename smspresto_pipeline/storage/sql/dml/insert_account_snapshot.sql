INSERT INTO smspresto.account_snapshots
    (taken_at, stock, sent, success, failed, contacts, groups, orders, bills, scheduled, predefined,
     account)
SELECT
    $taken_at::TIMESTAMP AS taken_at,
    $stock AS stock,
    $sent AS sent,
    $success AS success,
    $failed AS failed,
    $contacts AS contacts,
    $groups AS groups,
    $orders AS orders,
    $bills AS bills,
    $scheduled AS scheduled,
    $predefined AS predefined,
    $account AS account;
