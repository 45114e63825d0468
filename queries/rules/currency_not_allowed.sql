-- rule: currency_not_allowed
-- severity: medium
-- summary: Partner action moved money in a currency its grant scope does not allow
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, action
-- schedule: per_batch
-- Judged over the scopes that match the action (normal ones, or emergency ones
-- inside their window at the event's time): fires when none of them allows it.
-- The reason is built only where the scope does not allow the action (nearly every
-- row allows it, and building it for every row was most of the rule's time).
WITH matching AS (
    SELECT a.grant_id,
           a.credential_id,
           a.event_id,
           a.action,
           s.currencies IS NULL OR a.currency IS NULL OR array_has(s.currencies, a.currency) AS allowed,
           CASE WHEN s.currencies IS NULL OR a.currency IS NULL OR array_has(s.currencies, a.currency) THEN NULL
                ELSE a.action || ' in ' || a.currency || ', but the grant allows ' || coalesce(array_to_string(s.currencies, ', '), '')
           END AS detail
    FROM action_scopes a
    JOIN grant_scopes s ON s.grant_id = a.grant_id AND s.scope_index = a.scope_index
    WHERE NOT s.is_emergency OR a.ts BETWEEN s.emergency_from AND s.emergency_until
)
SELECT grant_id,
       credential_id,
       event_id,
       max(detail) AS reason
FROM matching
GROUP BY grant_id, credential_id, event_id, action
HAVING NOT bool_or(allowed)
