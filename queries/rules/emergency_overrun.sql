-- rule: emergency_overrun
-- severity: high
-- summary: Partner action relied on an emergency widening after it ended
-- frameworks: OWASP-NHI:NHI1, OWASP-NHI:NHI5, NIST-CSF-2.0:PR.AA-05
-- group_by: grant_id, scope
-- schedule: per_batch
-- Only actions that no normal scope of the grant allows: those rest on the
-- emergency widening alone.
WITH normal AS (
    SELECT DISTINCT a.event_id, a.grant_id
    FROM action_scopes a
    JOIN grant_scopes s ON s.grant_id = a.grant_id AND s.scope_index = a.scope_index
    WHERE NOT s.is_emergency
),
emergency AS (
    SELECT a.grant_id, a.credential_id, a.event_id, a.action, a.ts, min(s.action) AS scope
    FROM action_scopes a
    JOIN grant_scopes s ON s.grant_id = a.grant_id AND s.scope_index = a.scope_index
    WHERE s.is_emergency AND a.ts > s.emergency_until
    GROUP BY a.grant_id, a.credential_id, a.event_id, a.action, a.ts
)
SELECT e.grant_id,
       e.credential_id,
       e.event_id,
       e.scope,
       e.action || ' at ' || CAST(e.ts AS VARCHAR) || ' relied on the emergency widening of ' || g.grant_id || ', which ended at ' || CAST(g.emergency_until AS VARCHAR) AS reason
FROM emergency e
JOIN grants g ON g.grant_id = e.grant_id
LEFT JOIN normal n ON n.event_id = e.event_id AND n.grant_id = e.grant_id
WHERE n.event_id IS NULL
