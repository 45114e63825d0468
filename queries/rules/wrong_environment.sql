-- rule: wrong_environment
-- severity: high
-- summary: Partner credential used in an environment its grant does not list
-- frameworks: OWASP-NHI:NHI8, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, environment
-- schedule: per_batch
-- Grants first, actions last: a join builds its hash table from its left input (the
-- plan is made once, before any batch has a size), so the batch is probed, not copied.
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.environment,
       a.action || ' in environment ' || a.environment || ', but grant ' || g.grant_id
           || ' allows only ' || array_to_string(g.environments, ', ') AS reason
FROM grants g
JOIN grant_credentials gc ON gc.grant_id = g.grant_id
JOIN actions a ON a.credential_id = gc.credential_id
WHERE a.environment IS NOT NULL
  AND NOT empty(g.environments)
  AND NOT array_has(g.environments, a.environment)
