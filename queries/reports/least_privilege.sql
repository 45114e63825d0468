-- report: least_privilege
-- question: Per grant, which scopes are used, how much and how recently, and which actions fall outside every scope? The evidence behind `grants propose`.
-- param: partner = %   (LIKE pattern on the grant's partner)
-- An action matching two scopes counts under both. `state` is used, unused, or
-- outside_grant (the action's own text in `scope`).
WITH pairs AS (
    SELECT credential_id, action, count(*) AS n, max(ts) AS last_seen
    FROM actions GROUP BY credential_id, action
), bound AS (
    SELECT gc.grant_id, p.action, sum(p.n) AS n, max(p.last_seen) AS last_seen
    FROM pairs p JOIN grant_credentials gc ON gc.credential_id = p.credential_id
    GROUP BY gc.grant_id, p.action
), matched AS (
    SELECT b.grant_id, s.scope_index, b.action, b.n, b.last_seen
    FROM bound b JOIN grant_scopes s ON s.grant_id = b.grant_id
    WHERE action_matches(s.action, b.action)
), per_scope AS (
    SELECT s.grant_id, s.action AS scope, s.is_emergency,
           CAST(coalesce(sum(m.n), 0) AS BIGINT) AS actions,
           count(DISTINCT m.action) AS distinct_actions, max(m.last_seen) AS last_used,
           CASE WHEN count(m.action) = 0 THEN 'unused' ELSE 'used' END AS state
    FROM grant_scopes s
    LEFT JOIN matched m ON m.grant_id = s.grant_id AND m.scope_index = s.scope_index
    GROUP BY s.grant_id, s.scope_index, s.action, s.is_emergency
), outside AS (
    SELECT b.grant_id, b.action AS scope, false AS is_emergency, CAST(b.n AS BIGINT) AS actions,
           CAST(1 AS BIGINT) AS distinct_actions, b.last_seen AS last_used,
           'outside_grant' AS state
    FROM bound b
    LEFT JOIN (SELECT DISTINCT grant_id, action FROM matched) m
      ON m.grant_id = b.grant_id AND m.action = b.action
    WHERE m.grant_id IS NULL
)
SELECT r.grant_id, g.partner, r.scope, r.state, r.is_emergency, r.actions,
       r.distinct_actions, r.last_used
FROM (SELECT * FROM per_scope UNION ALL SELECT * FROM outside) r
JOIN grants g ON g.grant_id = r.grant_id
WHERE g.partner LIKE $partner
ORDER BY r.grant_id, r.state DESC, r.actions DESC, r.scope
