-- rule: credential_environment_mismatch
-- severity: medium
-- summary: Partner credential used in more than one environment under a grant that names none
-- frameworks: OWASP-NHI:NHI8, NIST-CSF-2.0:PR.IR-01, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, credential_id
-- schedule: per_batch
-- One credential should serve one environment (NHI8). Where the grant lists
-- environments, wrong_environment judges each action; here the grant lists none, so
-- the finding is the first action of a credential in an environment after it acted
-- in another. Earlier batches come from `credential_activity`, this batch is taken in
-- event-time order, so each new environment fires once and live and replay agree
-- whatever the batches.
WITH bound AS (
    SELECT gc.grant_id, a.credential_id, a.event_id, a.ts, a.environment
    FROM actions a
    JOIN grant_credentials gc ON gc.credential_id = a.credential_id
    JOIN grants g ON g.grant_id = gc.grant_id
    WHERE a.environment IS NOT NULL
      AND cardinality(g.environments) = 0
),
ordered AS (
    SELECT b.*,
           row_number() OVER (PARTITION BY grant_id, credential_id, environment
                              ORDER BY ts, event_id) AS nth_here,
           row_number() OVER (PARTITION BY grant_id, credential_id
                              ORDER BY ts, event_id) AS nth,
           array_agg(DISTINCT environment) OVER (PARTITION BY grant_id, credential_id) AS batch_envs
    FROM bound b
)
SELECT o.grant_id,
       o.credential_id,
       o.event_id,
       o.environment,
       'credential ' || o.credential_id || ' used in environment ''' || o.environment
           || ''' besides ' || array_to_string(array_remove(
               array_distinct(array_concat(coalesce(ca.environments, make_array()), o.batch_envs)),
               o.environment), ', ')
           || '; grant ' || o.grant_id || ' names no environments' AS reason
FROM ordered o
LEFT JOIN credential_activity ca
       ON ca.grant_id = o.grant_id AND ca.credential_id = o.credential_id
WHERE o.nth_here = 1
  AND NOT coalesce(array_has(ca.environments, o.environment), false)
  AND (o.nth > 1 OR coalesce(cardinality(ca.environments), 0) > 0)
