-- report: expiring_soon
-- question: Which active grants expire within the next within_days after --until, and are they still in use? Renew deliberately or let lapse (OWASP-NHI:NHI7).
-- param: within_days = 30
WITH per_credential AS (
    SELECT credential_id, max(ts) AS last_seen, count(*) AS actions
    FROM actions GROUP BY credential_id
), used AS (
    SELECT gc.grant_id, max(c.last_seen) AS last_seen, sum(c.actions) AS actions
    FROM per_credential c JOIN grant_credentials gc ON gc.credential_id = c.credential_id
    GROUP BY gc.grant_id
)
SELECT g.grant_id, g.partner, g.owner, g.expires_at,
       (CAST(g.expires_at AS BIGINT) - CAST($until AS BIGINT)) / 86400000 AS days_left,
       coalesce(u.actions, 0) AS actions, u.last_seen
FROM grants g
LEFT JOIN used u ON u.grant_id = g.grant_id
WHERE g.status = 'active'
  AND g.expires_at >= $until
  AND CAST(g.expires_at AS BIGINT)
      < CAST($until AS BIGINT) + CAST($within_days AS BIGINT) * 86400000
ORDER BY g.expires_at, g.grant_id
