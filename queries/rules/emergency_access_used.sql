-- rule: emergency_access_used
-- severity: info
-- summary: Partner action allowed only by a live emergency (break-glass) widening
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id
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
    SELECT DISTINCT a.grant_id, a.credential_id, a.event_id, a.action, a.ts
    FROM action_scopes a
    JOIN grant_scopes s ON s.grant_id = a.grant_id AND s.scope_index = a.scope_index
    WHERE s.is_emergency AND a.ts BETWEEN s.emergency_from AND s.emergency_until
)
SELECT e.grant_id,
       e.credential_id,
       e.event_id,
       e.action || ' allowed only by the emergency widening of ' || g.grant_id || ' (' || coalesce(g.emergency_reason, 'no reason given') || ', approved by ' || coalesce(g.emergency_approved_by, 'nobody') || ')' AS reason
FROM emergency e
JOIN grants g ON g.grant_id = e.grant_id
LEFT JOIN normal n ON n.event_id = e.event_id AND n.grant_id = e.grant_id
WHERE n.event_id IS NULL
