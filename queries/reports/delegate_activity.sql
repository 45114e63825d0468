-- report: delegate_activity
-- question: Who acted under each grant other than the partner itself, and were they approved delegates? (OWASP-NHI:NHI3, NIST-CSF-2.0:GV.SC-07)
-- param: partner = %   (LIKE pattern on the grant's partner)
WITH acted AS (
    -- Reduced before the join: actions naming an actor, per credential, actor and action.
    SELECT credential_id, actor, action, count(*) AS n, min(ts) AS first_seen, max(ts) AS last_seen
    FROM actions WHERE actor IS NOT NULL
    GROUP BY credential_id, actor, action
)
SELECT gc.grant_id, g.partner, a.actor, array_has(g.delegates, a.actor) AS approved,
       sum(a.n) AS actions, count(DISTINCT a.action) AS distinct_actions,
       min(a.first_seen) AS first_seen, max(a.last_seen) AS last_seen
FROM acted a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grants g ON g.grant_id = gc.grant_id
WHERE a.actor <> g.partner AND g.partner LIKE $partner
GROUP BY gc.grant_id, g.partner, a.actor, array_has(g.delegates, a.actor)
ORDER BY approved, actions DESC, gc.grant_id, a.actor
