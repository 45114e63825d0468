-- rule: revoked_grant_used
-- severity: critical
-- summary: Partner credential used although its grant is revoked
-- frameworks: OWASP-NHI:NHI1, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:GV.SC-07
-- group_by: grant_id, credential_id
-- schedule: per_batch
-- Grants first, actions last: a join builds its hash table from its left input (the
-- plan is made once, before any batch has a size), so the batch is probed, not copied.
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.action || ' by ' || a.credential_id || ', whose grant ' || g.grant_id || ' is revoked: the credential is still live' AS reason
FROM grants g
JOIN grant_credentials gc ON gc.grant_id = g.grant_id
JOIN actions a ON a.credential_id = gc.credential_id
WHERE g.status = 'revoked'
