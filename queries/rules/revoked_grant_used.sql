-- rule: revoked_grant_used
-- severity: critical
-- summary: Partner credential used although its grant is revoked
-- frameworks: OWASP-NHI:NHI1, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:GV.SC-07
-- group_by: grant_id, credential_id
-- schedule: per_batch
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.action || ' by ' || a.credential_id || ', whose grant ' || g.grant_id || ' is revoked: the credential is still live' AS reason
FROM actions a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grants g ON g.grant_id = gc.grant_id
WHERE g.status = 'revoked'
