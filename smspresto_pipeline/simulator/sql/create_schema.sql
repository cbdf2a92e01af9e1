-- The simulated account: one row.
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    account_ref TEXT NOT NULL,
    stock INTEGER NOT NULL,
    contacts INTEGER NOT NULL,
    groups_total INTEGER NOT NULL,
    orders INTEGER NOT NULL,
    bills INTEGER NOT NULL,
    scheduled INTEGER NOT NULL,
    predefined INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

-- The archive. `status` is the final status; it reads "0" (pending) until `settle_at`
-- (Unix seconds), so statuses move without any background work.
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    created_date TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message TEXT NOT NULL,
    segments INTEGER NOT NULL,
    sender TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    queue_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    settle_at REAL NOT NULL
);

CREATE INDEX IF NOT EXISTS messages_by_created_date ON messages (created_date, id);

-- The seeded days and their planned failure rate (spike days stand out).
CREATE TABLE IF NOT EXISTS seeded_days (
    day TEXT PRIMARY KEY,
    messages INTEGER NOT NULL,
    failure_rate REAL NOT NULL,
    spike INTEGER NOT NULL
);

-- Seeded rows not created yet on the simulated clock (SimulatorConfig.clock): each moves to
-- messages (taking the next id, so ids keep following creation time) once the clock passes it.
CREATE TABLE IF NOT EXISTS upcoming (
    created_date TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message TEXT NOT NULL,
    segments INTEGER NOT NULL,
    sender TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    queue_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    settle_at REAL NOT NULL
);
