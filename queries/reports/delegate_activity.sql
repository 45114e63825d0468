-- report: delegate_activity
-- question: Who acted under each grant other than the partner itself, and were they approved delegates? (OWASP-NHI:NHI3, NIST-CSF-2.0:GV.SC-07)
-- param: partner = %   (LIKE pattern on the grant's partner)
SELECT gc.grant_id, g.partner, a.actor, array_has(g.delegates, a.actor) AS approved,
       count(*) AS actions, count(DISTINCT a.action) AS distinct_actions,
       min(a.ts) AS first_seen, max(a.ts) AS last_seen
FROM actions a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grants g ON g.grant_id = gc.grant_id
WHERE a.actor IS NOT NULL AND a.actor <> g.partner AND g.partner LIKE $partner
GROUP BY gc.grant_id, g.partner, a.actor, array_has(g.delegates, a.actor)
ORDER BY approved, actions DESC, gc.grant_id, a.actor
