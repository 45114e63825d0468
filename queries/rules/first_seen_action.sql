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
WITH tried AS (
    SELECT credential_id, action, min(ts) AS first_ts
    FROM actions
    GROUP BY credential_id, action
),
new_scopes AS (
    SELECT gc.grant_id, s.action AS scope, min(t.first_ts) AS first_ts
    FROM tried t
    JOIN grant_credentials gc ON gc.credential_id = t.credential_id
    JOIN grant_scopes s ON s.grant_id = gc.grant_id
    LEFT JOIN grant_activity ga ON ga.grant_id = gc.grant_id
    WHERE action_matches(s.action, t.action)
      AND NOT coalesce(array_has(ga.scopes_used, s.action), false)
    GROUP BY gc.grant_id, s.action
),
baselines AS (
    SELECT gc.grant_id, min(a.ts) AS first_ts
    FROM actions a
    JOIN grant_credentials gc ON gc.credential_id = a.credential_id
    GROUP BY gc.grant_id
)
SELECT n.grant_id,
       a.credential_id,
       a.event_id,
       n.scope,
       'first use of scope ''' || n.scope || ''' of grant ' || n.grant_id
           || ' (' || a.action || '), after a baseline since '
           || to_char(coalesce(ga.first_seen, b.first_ts), '%Y-%m-%d') AS reason
FROM new_scopes n
JOIN baselines b ON b.grant_id = n.grant_id
LEFT JOIN grant_activity ga ON ga.grant_id = n.grant_id
JOIN grant_credentials gc ON gc.grant_id = n.grant_id
JOIN actions a ON a.credential_id = gc.credential_id AND a.ts = n.first_ts
WHERE action_matches(n.scope, a.action)
  AND n.first_ts >= coalesce(ga.first_seen, b.first_ts) + INTERVAL '7 days'
