-- rule: amount_over_limit
-- severity: high
-- summary: Partner action moved more money than its grant scope allows
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, scope
-- schedule: per_batch
-- Judged over the scopes that match the action (normal ones, or emergency ones
-- inside their window at the event's time): fires when none of them allows it.
-- Whether a scope allows the action is written once, as `allows`. Refusals are rare,
-- so they are found first, by the join itself; only an action some scope refuses is
-- then checked against the scopes that allow it. The check is an anti join whose
-- build side is the refusals: with none, the second join never runs. Grouping every
-- match to ask the same was most of the rule's time.
WITH matching AS (
    SELECT a.grant_id, a.credential_id, a.event_id, a.action, s.action AS scope, a.amount, a.currency, s.max_amount,
           s.max_amount IS NULL OR a.amount IS NULL OR a.amount <= s.max_amount AS allows
    FROM action_scopes a
    JOIN grant_scopes s ON s.grant_id = a.grant_id AND s.scope_index = a.scope_index
    WHERE NOT s.is_emergency OR a.ts BETWEEN s.emergency_from AND s.emergency_until
),
refused AS (
    SELECT * FROM matching WHERE NOT allows
)
SELECT r.grant_id,
       r.credential_id,
       r.event_id,
       min(r.scope) AS scope,
       max(r.action || ' moved ' || CAST(r.amount AS VARCHAR) || coalesce(' ' || r.currency, '')
           || ', over the limit ' || CAST(r.max_amount AS VARCHAR)) AS reason
FROM refused r
WHERE NOT EXISTS (
    SELECT 1
    FROM matching m
    WHERE m.grant_id = r.grant_id AND m.credential_id = r.credential_id
      AND m.event_id = r.event_id AND m.action = r.action AND m.allows
)
GROUP BY r.grant_id, r.credential_id, r.event_id, r.action
