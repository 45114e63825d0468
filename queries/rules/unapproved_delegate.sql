-- rule: unapproved_delegate
-- severity: high
-- summary: Partner credential used by an actor that is neither the partner nor an approved delegate
-- frameworks: OWASP-NHI:NHI3, OWASP-NHI:NHI9, NIST-CSF-2.0:GV.SC-07
-- group_by: grant_id, actor
-- schedule: per_batch
-- Grants first, actions last: a join builds its hash table from its left input (the
-- plan is made once, before any batch has a size), so the batch is probed, not copied.
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.actor,
       a.actor || ' used ' || a.credential_id || ' but grant ' || g.grant_id
           || ' approves only ' || g.partner
           || CASE WHEN cardinality(g.delegates) > 0
                   THEN ' and ' || array_to_string(g.delegates, ', ') ELSE '' END AS reason
FROM grants g
JOIN grant_credentials gc ON gc.grant_id = g.grant_id
JOIN actions a ON a.credential_id = gc.credential_id
WHERE a.actor IS NOT NULL
  AND a.actor <> g.partner
  AND NOT array_has(g.delegates, a.actor)
