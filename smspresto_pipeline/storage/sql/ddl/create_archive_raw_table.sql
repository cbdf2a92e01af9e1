-- list-archive rows exactly as the API sent them (every field a string, NULL when absent),
-- so a change in how we type or normalise them can always be replayed from here; account is
-- the configured account name (smspresto.messages says more).
CREATE TABLE IF NOT EXISTS smspresto.archive_raw (
    IDHISTORIQUE VARCHAR,
    HIS_DESTINATAIRE VARCHAR,
    HIS_MESSAGE VARCHAR,
    HIS_STATUT VARCHAR,
    HIS_NOMBRESMS VARCHAR,
    HIS_DATEHEURECREA VARCHAR,
    HIS_DATEHEUREENVOI VARCHAR,
    IDDATEHEURE VARCHAR,
    CPT_REF VARCHAR,
    IDSMSFILATTENTE VARCHAR,
    HIS_EXPEDITEUR VARCHAR,
    NOMCONTACT VARCHAR,
    account VARCHAR NOT NULL DEFAULT 'default',
    partition_date DATE NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);
