-- rule: expiring_grant_in_use
-- severity: medium
-- summary: Grant still in use expires within 14 days: renew it through approval or wind the integration down
-- frameworks: OWASP-NHI:NHI7, NIST-CSF-2.0:GV.SC-10, NIST-CSF-2.0:PR.AA-05
-- group_by: grant_id, expires_at
-- schedule: every 1m
-- "In use" means used within its idle_after: an idle grant is idle_grant's business.
SELECT g.grant_id,
       CAST(NULL AS VARCHAR) AS credential_id,
       g.expires_at,
       'expires at ' || CAST(g.expires_at AS VARCHAR) || ' and was last used at '
           || CAST(a.last_seen AS VARCHAR) AS reason
FROM grants g
JOIN grant_activity a ON a.grant_id = g.grant_id
WHERE g.status = 'active'
  AND g.expires_at > now()
  AND date_part('epoch', g.expires_at) - date_part('epoch', now()) <= 14 * 86400
  AND a.last_seen IS NOT NULL
  AND date_part('epoch', now()) - date_part('epoch', a.last_seen) < g.idle_after_seconds
