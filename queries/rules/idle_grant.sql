-- rule: idle_grant
-- severity: low
-- summary: Grant not used within its idle_after: a candidate for revocation
-- frameworks: OWASP-NHI:NHI1, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:GV.SC-10
-- group_by: grant_id, idle_since
-- schedule: every 1m
-- Idle time counts from the last use, or from valid_from (else approved_at) for a
-- grant never used. It fires once per idle period: a new use starts a new one.
WITH idle AS (
    SELECT g.grant_id,
           g.idle_after_seconds,
           a.last_seen,
           coalesce(a.last_seen, g.valid_from, g.approved_at) AS idle_since
    FROM grants g
    LEFT JOIN grant_activity a ON a.grant_id = g.grant_id
    WHERE g.status = 'active'
      AND (g.expires_at IS NULL OR g.expires_at > now())
)
SELECT grant_id,
       CAST(NULL AS VARCHAR) AS credential_id,
       idle_since,
       CASE WHEN last_seen IS NULL
            THEN 'never used since ' || CAST(idle_since AS VARCHAR)
            ELSE 'no action since ' || CAST(idle_since AS VARCHAR)
       END || ', longer than its idle_after of ' || CAST(idle_after_seconds AS VARCHAR)
           || ' s: revoke it or confirm the partner still needs it' AS reason
FROM idle
WHERE idle_since IS NOT NULL
  AND date_part('epoch', now()) - date_part('epoch', idle_since) >= idle_after_seconds
