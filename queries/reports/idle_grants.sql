-- report: idle_grants
-- question: Which active grants went unused for longer than their idle_after, as of --until? Revoke candidates (OWASP-NHI:NHI1).
-- param: partner = %   (LIKE pattern on the grant's partner)
-- A grant never used in the window counts from its valid_from (or approval); the
-- window should reach back further than the longest idle_after.
WITH per_credential AS (
    -- Reduced before the join: one row per credential, whatever the history's size.
    SELECT credential_id, max(ts) AS last_seen, count(*) AS actions
    FROM actions GROUP BY credential_id
), used AS (
    SELECT gc.grant_id, max(c.last_seen) AS last_seen, sum(c.actions) AS actions
    FROM per_credential c
    JOIN grant_credentials gc ON gc.credential_id = c.credential_id
    GROUP BY gc.grant_id
), judged AS (
    SELECT g.grant_id, g.partner, g.owner, u.last_seen, coalesce(u.actions, 0) AS actions,
           g.idle_after_seconds,
           CAST(coalesce(u.last_seen, g.valid_from, g.approved_at) AS BIGINT) AS since_ms
    FROM grants g
    LEFT JOIN used u ON u.grant_id = g.grant_id
    WHERE g.status = 'active' AND g.partner LIKE $partner
)
SELECT grant_id, partner, owner, last_seen, actions,
       idle_after_seconds / 86400 AS idle_after_days,
       (CAST($until AS BIGINT) - since_ms) / 86400000 AS idle_days
FROM judged
WHERE since_ms IS NULL
   OR since_ms + idle_after_seconds * 1000 < CAST($until AS BIGINT)
ORDER BY idle_days DESC, grant_id
