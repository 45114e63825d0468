-- rule: grant_without_owner
-- severity: medium
-- summary: Active grant has no named internal owner: nobody is accountable for this access
-- frameworks: OWASP-NHI:NHI1, NIST-CSF-2.0:GV.RR-02, NIST-CSF-2.0:GV.SC-07
-- group_by: grant_id
-- schedule: every 1m
SELECT grant_id,
       CAST(NULL AS VARCHAR) AS credential_id,
       'active grant for partner ' || partner || ' names no owner: assign one in the grant file' AS reason
FROM grants
WHERE status = 'active'
  AND owner IS NULL
  AND (expires_at IS NULL OR expires_at > now())
