-- rule: suspended_grant_used
-- severity: high
-- summary: Partner credential used while its grant is suspended
-- frameworks: OWASP-NHI:NHI1, NIST-CSF-2.0:PR.AA-05
-- group_by: grant_id, credential_id
-- schedule: per_batch
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.action || ' by ' || a.credential_id || ' while grant ' || g.grant_id || ' is suspended' AS reason
FROM actions a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grants g ON g.grant_id = gc.grant_id
WHERE g.status = 'suspended'
