-- rule: emergency_access_used
-- severity: info
-- summary: Partner action allowed only by a live emergency (break-glass) widening
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, action
-- schedule: per_batch
-- Only actions that no normal scope of the grant allows: those rest on the
-- emergency widening alone.
WITH normal AS (
    SELECT DISTINCT a.event_id, gc.grant_id
    FROM actions a
    JOIN grant_credentials gc ON gc.credential_id = a.credential_id
    JOIN grant_scopes s ON s.grant_id = gc.grant_id
    WHERE NOT s.is_emergency AND action_matches(s.action, a.action)
),
emergency AS (
    SELECT DISTINCT gc.grant_id, a.credential_id, a.event_id, a.action, a.ts
    FROM actions a
    JOIN grant_credentials gc ON gc.credential_id = a.credential_id
    JOIN grant_scopes s ON s.grant_id = gc.grant_id
    WHERE s.is_emergency AND action_matches(s.action, a.action) AND a.ts BETWEEN s.emergency_from AND s.emergency_until
)
SELECT e.grant_id,
       e.credential_id,
       e.event_id,
       e.action || ' allowed only by the emergency widening of ' || g.grant_id || ' (' || coalesce(g.emergency_reason, 'no reason given') || ', approved by ' || coalesce(g.emergency_approved_by, 'nobody') || ')' AS reason
FROM emergency e
JOIN grants g ON g.grant_id = e.grant_id
LEFT JOIN normal n ON n.event_id = e.event_id AND n.grant_id = e.grant_id
WHERE n.event_id IS NULL
