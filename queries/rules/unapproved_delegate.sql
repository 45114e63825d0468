-- rule: unapproved_delegate
-- severity: high
-- summary: Partner credential used by an actor that is neither the partner nor an approved delegate
-- frameworks: OWASP-NHI:NHI3, OWASP-NHI:NHI9, NIST-CSF-2.0:GV.SC-07
-- group_by: grant_id, actor
-- schedule: per_batch
SELECT g.grant_id,
       a.credential_id,
       a.event_id,
       a.actor,
       a.actor || ' used ' || a.credential_id || ' but grant ' || g.grant_id
           || ' approves only ' || g.partner
           || CASE WHEN cardinality(g.delegates) > 0
                   THEN ' and ' || array_to_string(g.delegates, ', ') ELSE '' END AS reason
FROM actions a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grants g ON g.grant_id = gc.grant_id
WHERE a.actor IS NOT NULL
  AND a.actor <> g.partner
  AND NOT array_has(g.delegates, a.actor)
