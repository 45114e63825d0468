-- report: emergency_usage
-- question: Which actions did only a grant's emergency (break-glass) scopes allow, and how many came before, during or after the approved window?
-- Actions a normal scope also allows are not emergency use.
WITH bound AS (
    SELECT gc.grant_id, a.action, a.ts
    FROM actions a JOIN grant_credentials gc ON gc.credential_id = a.credential_id
), distinct_actions AS (
    SELECT DISTINCT grant_id, action FROM bound
), normal AS (
    SELECT DISTINCT d.grant_id, d.action
    FROM distinct_actions d JOIN grant_scopes s ON s.grant_id = d.grant_id
    WHERE NOT s.is_emergency AND action_matches(s.action, d.action)
), emergency AS (
    SELECT DISTINCT d.grant_id, d.action
    FROM distinct_actions d JOIN grant_scopes s ON s.grant_id = d.grant_id
    WHERE s.is_emergency AND action_matches(s.action, d.action)
)
SELECT g.grant_id, g.partner, g.owner, g.emergency_reason, g.emergency_approved_by,
       g.emergency_from, g.emergency_until,
       sum(CASE WHEN b.ts < g.emergency_from THEN 1 ELSE 0 END) AS before_window,
       sum(CASE WHEN b.ts >= g.emergency_from AND b.ts <= g.emergency_until THEN 1 ELSE 0 END) AS in_window,
       sum(CASE WHEN b.ts > g.emergency_until THEN 1 ELSE 0 END) AS after_window,
       min(b.ts) AS first_seen, max(b.ts) AS last_seen
FROM bound b
JOIN emergency e ON e.grant_id = b.grant_id AND e.action = b.action
LEFT JOIN normal n ON n.grant_id = b.grant_id AND n.action = b.action
JOIN grants g ON g.grant_id = b.grant_id
WHERE n.grant_id IS NULL
GROUP BY g.grant_id, g.partner, g.owner, g.emergency_reason, g.emergency_approved_by,
         g.emergency_from, g.emergency_until
ORDER BY after_window DESC, g.grant_id
