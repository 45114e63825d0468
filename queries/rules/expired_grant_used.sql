-- rule: expired_grant_used
-- severity: critical
-- summary: Partner credential used after its grant expired
-- frameworks: OWASP-NHI:NHI1, OWASP-NHI:NHI7, NIST-CSF-2.0:PR.AA-05
-- group_by: grant_id, credential_id
-- schedule: per_batch
-- Grants first, actions last: a join builds its hash table from its left input (the
-- plan is made once, before any batch has a size), so the batch is probed, not copied.
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.action || ' at ' || CAST(a.ts AS VARCHAR) || ', after grant ' || g.grant_id || ' expired at ' || CAST(g.expires_at AS VARCHAR) AS reason
FROM grants g
JOIN grant_credentials gc ON gc.grant_id = g.grant_id
JOIN actions a ON a.credential_id = gc.credential_id
WHERE g.expires_at IS NOT NULL AND a.ts >= g.expires_at
