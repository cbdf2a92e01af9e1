-- staged: an intraday read's rows; those still stored (by a later write) are left as they are.
INSERT INTO smspresto.archive_raw (
    IDHISTORIQUE, HIS_DESTINATAIRE, HIS_MESSAGE, HIS_STATUT, HIS_NOMBRESMS,
    HIS_DATEHEURECREA, HIS_DATEHEUREENVOI, IDDATEHEURE, CPT_REF, IDSMSFILATTENTE,
    HIS_EXPEDITEUR, NOMCONTACT, account, partition_date, loaded_at
)
SELECT
    s.IDHISTORIQUE, s.HIS_DESTINATAIRE, s.HIS_MESSAGE, s.HIS_STATUT, s.HIS_NOMBRESMS,
    s.HIS_DATEHEURECREA, s.HIS_DATEHEUREENVOI, s.IDDATEHEURE, s.CPT_REF, s.IDSMSFILATTENTE,
    s.HIS_EXPEDITEUR, s.NOMCONTACT,
    (SELECT max(account) FROM staged_days) AS account,
    s.partition_date,
    (SELECT max(loaded_at) FROM staged_days) AS loaded_at
FROM staged AS s
WHERE NOT EXISTS (
    SELECT 1
    FROM smspresto.archive_raw AS r
    WHERE r.account = (SELECT max(account) FROM staged_days)
        AND r.partition_date = s.partition_date
        AND r.IDHISTORIQUE = s.IDHISTORIQUE
);
