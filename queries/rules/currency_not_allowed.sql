-- rule: currency_not_allowed
-- severity: medium
-- summary: Partner action moved money in a currency its grant scope does not allow
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
    SELECT a.grant_id, a.credential_id, a.event_id, a.action, s.action AS scope, a.currency,
           s.currencies AS allowed_currencies,
           s.currencies IS NULL OR a.currency IS NULL OR array_has(s.currencies, a.currency)
               AS allows
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
       max(r.action || ' in ' || r.currency || ', but the grant allows '
           || array_to_string(r.allowed_currencies, ', ')) AS reason
FROM refused r
WHERE NOT EXISTS (
    SELECT 1
    FROM matching m
    WHERE m.grant_id = r.grant_id AND m.credential_id = r.credential_id
      AND m.event_id = r.event_id AND m.action = r.action AND m.allows
)
GROUP BY r.grant_id, r.credential_id, r.event_id, r.action
