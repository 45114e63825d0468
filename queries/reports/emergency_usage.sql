-- report: emergency_usage
-- question: Which actions did only a grant's emergency (break-glass) scopes allow, and how many came before, during or after the approved window?
-- Actions a normal scope also allows are not emergency use. Patterns are matched once
-- per distinct (credential, action); only the actions they single out are read again.
WITH covered AS (
    -- Credentials of grants with emergency scopes: the only actions worth a look.
    SELECT DISTINCT gc.grant_id, gc.credential_id
    FROM grant_credentials gc JOIN grant_scopes s ON s.grant_id = gc.grant_id
    WHERE s.is_emergency
), mine AS (
    SELECT credential_id, action, ts FROM actions
    WHERE credential_id IN (SELECT credential_id FROM covered)
), bound AS (
    SELECT DISTINCT c.grant_id, m.credential_id, m.action
    FROM mine m JOIN covered c ON c.credential_id = m.credential_id
), normal AS (
    SELECT DISTINCT b.grant_id, b.credential_id, b.action
    FROM bound b JOIN grant_scopes s ON s.grant_id = b.grant_id
    WHERE NOT s.is_emergency AND action_matches(s.action, b.action)
), emergency_only AS (
    SELECT DISTINCT b.grant_id, b.credential_id, b.action
    FROM bound b JOIN grant_scopes s ON s.grant_id = b.grant_id
    LEFT JOIN normal n
      ON n.grant_id = b.grant_id AND n.credential_id = b.credential_id AND n.action = b.action
    WHERE s.is_emergency AND action_matches(s.action, b.action) AND n.grant_id IS NULL
)
SELECT g.grant_id, g.partner, g.owner, g.emergency_reason, g.emergency_approved_by,
       g.emergency_from, g.emergency_until,
       sum(CASE WHEN a.ts < g.emergency_from THEN 1 ELSE 0 END) AS before_window,
       sum(CASE WHEN a.ts >= g.emergency_from AND a.ts <= g.emergency_until THEN 1 ELSE 0 END) AS in_window,
       sum(CASE WHEN a.ts > g.emergency_until THEN 1 ELSE 0 END) AS after_window,
       min(a.ts) AS first_seen, max(a.ts) AS last_seen
FROM emergency_only e
JOIN mine a ON a.credential_id = e.credential_id AND a.action = e.action
JOIN grants g ON g.grant_id = e.grant_id
GROUP BY g.grant_id, g.partner, g.owner, g.emergency_reason, g.emergency_approved_by,
         g.emergency_from, g.emergency_until
ORDER BY after_window DESC, g.grant_id
