-- rule: first_seen_action
-- severity: info
-- summary: Partner credential used one of its grant's scopes for the first time
-- frameworks: NIST-CSF-2.0:DE.AE-02, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, scope
-- schedule: per_batch
-- A baseline per grant: `grant_activity` is what its credentials did before this
-- batch (shared by every instance, kept across restarts). The first week after a
-- grant's first action is learning, so a fresh deployment does not raise one alert
-- per scope; edit the interval below to learn longer. Only the first action under a
-- new scope fires, judged in event time, so live and replay agree whatever the
-- batches. Actions are compared by the scope pattern that grants them (ids in paths
-- do not make every call new); an action no scope grants is out_of_purpose_action's.
-- Scopes never used are picked first: once a grant has used its scopes, its actions
-- cost this rule nothing.
WITH unused AS (
    SELECT s.grant_id, s.scope_index, s.action AS scope
    FROM grant_scopes s
    LEFT JOIN grant_activity ga ON ga.grant_id = s.grant_id
    WHERE NOT coalesce(array_has(ga.scopes_used, s.action), false)
),
candidates AS (
    SELECT u.grant_id, u.scope, a.credential_id, a.event_id, a.action, a.ts
    FROM unused u
    JOIN action_scopes a ON a.grant_id = u.grant_id AND a.scope_index = u.scope_index
),
firsts AS (
    SELECT grant_id, scope, min(ts) AS first_ts
    FROM candidates
    GROUP BY grant_id, scope
),
baselines AS (
    SELECT f.grant_id, min(a.ts) AS first_ts
    FROM (SELECT DISTINCT grant_id FROM firsts) f
    JOIN grant_credentials gc ON gc.grant_id = f.grant_id
    JOIN actions a ON a.credential_id = gc.credential_id
    GROUP BY f.grant_id
)
SELECT c.grant_id,
       c.credential_id,
       c.event_id,
       c.scope,
       'first use of scope ''' || c.scope || ''' of grant ' || c.grant_id
           || ' (' || c.action || '), after a baseline since '
           || to_char(coalesce(ga.first_seen, b.first_ts), '%Y-%m-%d') AS reason
FROM firsts f
JOIN candidates c ON c.grant_id = f.grant_id AND c.scope = f.scope AND c.ts = f.first_ts
JOIN baselines b ON b.grant_id = f.grant_id
LEFT JOIN grant_activity ga ON ga.grant_id = f.grant_id
WHERE f.first_ts >= coalesce(ga.first_seen, b.first_ts) + INTERVAL '7 days'
