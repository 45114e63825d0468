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
-- their grants. They come first: a join builds its hash table from its left input,
-- and built from the grants it copied every grant's purpose to name a few of them.
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
FROM uncovered u
JOIN grant_credentials gc ON gc.credential_id = u.credential_id
JOIN grants g ON g.grant_id = gc.grant_id
