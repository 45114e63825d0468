-- rule: first_seen_action
-- severity: info
-- summary: Partner credential used one of its grant's scopes for the first time
-- frameworks: NIST-CSF-2.0:DE.AE-02, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id
-- schedule: per_batch
-- A baseline per grant: `grant_activity` is what its credentials did before this
-- batch (shared by every instance, kept across restarts). The first week after a
-- grant's first action is learning, so a fresh deployment does not raise one alert
-- per scope; edit the interval below to learn longer. Only the first action under a
-- new scope fires, judged in event time, so live and replay agree whatever the
-- batches. Actions are compared by the scope pattern that grants them (ids in paths
-- do not make every call new); an action no scope grants is out_of_purpose_action's.
-- The batch's matches are reduced first, to the earliest action per grant and scope.
-- Starting from the grants' scopes instead compared every scope of every grant in
-- the batch with the scopes it had used, three times over (a CTE runs once per use):
-- grants keep scopes they never use, and this rule cost more than any other. Only
-- scopes first used after the learning week are joined back to their actions.
WITH matched AS (
    SELECT grant_id, scope_index, min(ts) AS first_ts
    FROM action_scopes
    GROUP BY grant_id, scope_index
),
firsts AS (
    SELECT m.grant_id, s.action AS scope, min(m.first_ts) AS first_ts
    FROM matched m
    JOIN grant_scopes s ON s.grant_id = m.grant_id AND s.scope_index = m.scope_index
    LEFT JOIN grant_activity ga ON ga.grant_id = m.grant_id
    WHERE NOT coalesce(array_has(ga.scopes_used, s.action), false)
    GROUP BY m.grant_id, s.action
),
-- A grant acting for the first time (all its scopes unused) learns from its first
-- action in the batch, in purpose or not.
baselines AS (
    SELECT m.grant_id, min(a.ts) AS first_ts
    FROM (SELECT DISTINCT grant_id FROM action_scopes) m
    LEFT JOIN grant_activity ga ON ga.grant_id = m.grant_id
    JOIN grant_credentials gc ON gc.grant_id = m.grant_id
    JOIN actions a ON a.credential_id = gc.credential_id
    WHERE ga.first_seen IS NULL
    GROUP BY m.grant_id
),
news AS (
    SELECT f.grant_id, f.scope, f.first_ts, coalesce(ga.first_seen, b.first_ts) AS baseline
    FROM firsts f
    LEFT JOIN grant_activity ga ON ga.grant_id = f.grant_id
    LEFT JOIN baselines b ON b.grant_id = f.grant_id
    WHERE f.first_ts >= coalesce(ga.first_seen, b.first_ts) + INTERVAL '7 days'
)
SELECT n.grant_id,
       a.credential_id,
       a.event_id,
       n.scope,
       'first use of scope ''' || n.scope || ''' of grant ' || n.grant_id
           || ' (' || a.action || '), after a baseline since '
           || to_char(n.baseline, '%Y-%m-%d') AS reason
FROM news n
JOIN grant_scopes s ON s.grant_id = n.grant_id AND s.action = n.scope
JOIN action_scopes a
  ON a.grant_id = s.grant_id AND a.scope_index = s.scope_index AND a.ts = n.first_ts
