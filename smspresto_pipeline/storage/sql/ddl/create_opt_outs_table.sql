-- Numbers (E.164) that must never be messaged, whatever the campaign. created_at is UTC.
CREATE TABLE IF NOT EXISTS smspresto.opt_outs (
    recipient VARCHAR PRIMARY KEY,
    reason VARCHAR,
    source VARCHAR,
    created_at TIMESTAMP NOT NULL
);
