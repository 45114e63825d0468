-- report: drift_by_partner
-- question: Per partner, what share of actions fell outside every scope of the grants binding the credential? Drift from declared purpose (NIST-CSF-2.0:DE.CM-06).
-- Judged by action pattern against the grants in force now, so it also shows how a
-- narrowed grant would have fared; constraint breaches (amount, data class,
-- environment) are in alerts_summary.
WITH pairs AS (
    SELECT credential_id, action, count(*) AS n FROM actions GROUP BY credential_id, action
), matched AS (
    SELECT DISTINCT p.credential_id, p.action
    FROM pairs p
    JOIN grant_credentials gc ON gc.credential_id = p.credential_id
    JOIN grant_scopes s ON s.grant_id = gc.grant_id
    WHERE action_matches(s.action, p.action)
), by_partner AS (
    SELECT DISTINCT g.partner, p.credential_id, p.action, p.n, m.action IS NULL AS outside
    FROM pairs p
    JOIN grant_credentials gc ON gc.credential_id = p.credential_id
    JOIN grants g ON g.grant_id = gc.grant_id
    LEFT JOIN matched m ON m.credential_id = p.credential_id AND m.action = p.action
)
SELECT partner, count(DISTINCT credential_id) AS credentials, sum(n) AS actions,
       sum(CASE WHEN outside THEN n ELSE 0 END) AS out_of_purpose,
       round(CAST(sum(CASE WHEN outside THEN n ELSE 0 END) AS DOUBLE) / sum(n), 4) AS drift_ratio
FROM by_partner
GROUP BY partner
ORDER BY drift_ratio DESC, partner
