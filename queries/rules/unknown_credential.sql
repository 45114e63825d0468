-- rule: unknown_credential
-- severity: high
-- summary: A credential that no grant binds acted on a partner API
-- frameworks: OWASP-NHI:NHI3, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:DE.CM-06
-- group_by: credential_id, action
-- schedule: per_batch
-- Only identities in partner scope ([scope] in config, else the format's default):
-- a raw cloud or cluster log is mostly the organisation's own identities. NULL (an
-- archive older than the column) counts as in scope.
SELECT CAST(NULL AS VARCHAR) AS grant_id,
       a.credential_id,
       a.event_id,
       'credential ' || a.credential_id || ' is in partner scope but not bound by any grant' AS reason
FROM actions a
WHERE a.in_scope IS NOT FALSE
  AND NOT EXISTS (
    SELECT 1 FROM grant_credentials gc WHERE gc.credential_id = a.credential_id
)
