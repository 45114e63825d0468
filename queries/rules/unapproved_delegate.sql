-- rule: unapproved_delegate
-- severity: high
-- summary: Partner credential used by an actor that is neither the partner nor an approved delegate
-- frameworks: OWASP-NHI:NHI3, OWASP-NHI:NHI9, NIST-CSF-2.0:GV.SC-07
-- group_by: grant_id, actor
-- schedule: per_batch
-- Grants first, actions last: a join builds its hash table from its left input (the
-- plan is made once, before any batch has a size), so the batch is probed, not copied.
-- Actors other than the partner are rare, so they are found first by a join that
-- reads no list; only they are checked against the grant's delegates, by a join
-- whose build side they are (with none, it never runs). Gathering the delegates list
-- for every action to compare was most of the rule's time.
WITH strangers AS (
    SELECT g.grant_id, a.credential_id, a.event_id, a.actor
    FROM grants g
    JOIN grant_credentials gc ON gc.grant_id = g.grant_id
    JOIN actions a ON a.credential_id = gc.credential_id
    WHERE a.actor IS NOT NULL
      AND a.actor <> g.partner
)
SELECT s.grant_id,
       s.credential_id,
       s.event_id,
       s.actor,
       s.actor || ' used ' || s.credential_id || ' but grant ' || s.grant_id
           || ' approves only ' || g.partner
           || CASE WHEN cardinality(g.delegates) > 0
                   THEN ' and ' || array_to_string(g.delegates, ', ') ELSE '' END AS reason
FROM strangers s
JOIN grants g ON g.grant_id = s.grant_id
WHERE NOT array_has(g.delegates, s.actor)
