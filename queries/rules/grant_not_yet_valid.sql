-- rule: grant_not_yet_valid
-- severity: high
-- summary: Partner credential used before its grant became valid
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:PR.AA-05
-- group_by: grant_id, credential_id
-- schedule: per_batch
-- Grants first, actions last: a join builds its hash table from its left input (the
-- plan is made once, before any batch has a size), so the batch is probed, not copied.
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.action || ' at ' || CAST(a.ts AS VARCHAR) || ', before grant ' || g.grant_id || ' is valid from ' || CAST(g.valid_from AS VARCHAR) AS reason
FROM grants g
JOIN grant_credentials gc ON gc.grant_id = g.grant_id
JOIN actions a ON a.credential_id = gc.credential_id
WHERE g.valid_from IS NOT NULL AND a.ts < g.valid_from
