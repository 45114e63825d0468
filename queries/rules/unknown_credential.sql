-- rule: unknown_credential
-- severity: high
-- summary: A credential that no grant binds acted on a partner API
-- frameworks: OWASP-NHI:NHI3, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:DE.CM-06
-- group_by: credential_id, action
-- schedule: per_batch
SELECT CAST(NULL AS VARCHAR) AS grant_id,
       a.credential_id,
       a.event_id,
       'credential ' || a.credential_id || ' is not bound by any grant' AS reason
FROM actions a
WHERE NOT EXISTS (
    SELECT 1 FROM grant_credentials gc WHERE gc.credential_id = a.credential_id
)
