-- rule: out_of_purpose_action
-- severity: high
-- summary: Partner credential used for an operation outside its grant's purpose
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.CM-06, NIST-CSF-2.0:PR.AA-05
-- group_by: grant_id, action
-- schedule: per_batch
-- An action is covered when any grant binding its credential has a matching scope,
-- normal or emergency with its window opened by the event's time (once the window
-- has closed, emergency_overrun reports the action instead).
-- The uncovered actions are found from the batch alone, and only they are joined to
-- their grants, grants first: a join builds its hash table from its left input.
WITH uncovered AS (
    SELECT a.event_id, a.credential_id, a.action
    FROM actions a
    WHERE NOT EXISTS (
        SELECT 1
        FROM action_scopes m
        JOIN grant_scopes s ON s.grant_id = m.grant_id AND s.scope_index = m.scope_index
        WHERE m.event_id = a.event_id
          AND (NOT s.is_emergency OR m.ts >= s.emergency_from)
    )
)
SELECT g.grant_id,
       u.credential_id,
       u.event_id,
       u.action || ' is not in purpose ''' || g.purpose || '''' AS reason
FROM grants g
JOIN grant_credentials gc ON gc.grant_id = g.grant_id
JOIN uncovered u ON u.credential_id = gc.credential_id
