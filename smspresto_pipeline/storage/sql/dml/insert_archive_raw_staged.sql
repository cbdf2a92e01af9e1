-- staged: the days' pages (every API field a string), in the order received; DuckDB keeps
-- that order (preserve_insertion_order) without a sort.
INSERT INTO smspresto.archive_raw (
    IDHISTORIQUE, HIS_DESTINATAIRE, HIS_MESSAGE, HIS_STATUT, HIS_NOMBRESMS,
    HIS_DATEHEURECREA, HIS_DATEHEUREENVOI, IDDATEHEURE, CPT_REF, IDSMSFILATTENTE,
    HIS_EXPEDITEUR, NOMCONTACT, account, partition_date, loaded_at
)
SELECT
    IDHISTORIQUE, HIS_DESTINATAIRE, HIS_MESSAGE, HIS_STATUT, HIS_NOMBRESMS,
    HIS_DATEHEURECREA, HIS_DATEHEUREENVOI, IDDATEHEURE, CPT_REF, IDSMSFILATTENTE,
    HIS_EXPEDITEUR, NOMCONTACT,
    (SELECT any_value(account) FROM staged_days) AS account,
    partition_date,
    (SELECT any_value(loaded_at) FROM staged_days) AS loaded_at
FROM staged;
