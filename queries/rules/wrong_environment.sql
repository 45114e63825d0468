-- rule: wrong_environment
-- severity: high
-- summary: Partner credential used in an environment its grant does not list
-- frameworks: OWASP-NHI:NHI8, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, environment
-- schedule: per_batch
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.environment,
       a.action || ' in environment ' || a.environment || ', but grant ' || g.grant_id
           || ' allows only ' || array_to_string(g.environments, ', ') AS reason
FROM actions a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grants g ON g.grant_id = gc.grant_id
WHERE a.environment IS NOT NULL
  AND cardinality(g.environments) > 0
  AND NOT array_has(g.environments, a.environment)
