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
-- whatever the batches. The batch is reduced to its first action per credential and
-- environment before anything else.
WITH unscoped AS (
    SELECT gc.credential_id, g.grant_id
    FROM grants g
    JOIN grant_credentials gc ON gc.grant_id = g.grant_id
    WHERE empty(g.environments)
),
firsts AS (
    SELECT u.grant_id, a.credential_id, a.environment, min(a.ts) AS first_ts
    FROM unscoped u
    JOIN actions a ON a.credential_id = u.credential_id
    WHERE a.environment IS NOT NULL
    GROUP BY u.grant_id, a.credential_id, a.environment
),
ranked AS (
    SELECT f.*,
           row_number() OVER (PARTITION BY grant_id, credential_id
                              ORDER BY first_ts, environment) AS nth,
           array_agg(environment) OVER (PARTITION BY grant_id, credential_id) AS batch_envs
    FROM firsts f
),
news AS (
    SELECT r.grant_id, r.credential_id, r.environment, r.first_ts,
           array_remove(array_distinct(array_concat(
               coalesce(ca.environments, make_array()), r.batch_envs)), r.environment) AS others
    FROM ranked r
    LEFT JOIN credential_activity ca
           ON ca.grant_id = r.grant_id AND ca.credential_id = r.credential_id
    WHERE NOT coalesce(array_has(ca.environments, r.environment), false)
      AND (r.nth > 1 OR coalesce(cardinality(ca.environments), 0) > 0)
)
SELECT n.grant_id,
       n.credential_id,
       a.event_id,
       n.environment,
       'credential ' || n.credential_id || ' used in environment ''' || n.environment
           || ''' besides ' || array_to_string(n.others, ', ')
           || '; grant ' || n.grant_id || ' names no environments' AS reason
FROM news n
JOIN actions a
  ON a.credential_id = n.credential_id
 AND a.environment = n.environment
 AND a.ts = n.first_ts
