-- report: unused_scopes
-- question: Which granted scopes saw no action in the window? Candidates to remove (OWASP-NHI:NHI5, least privilege).
-- param: partner = %   (LIKE pattern on the grant's partner)
-- Emergency scopes are left out: they exist for the rare day. Patterns are matched
-- against each distinct (credential, action) once.
WITH pairs AS (
    SELECT DISTINCT credential_id, action FROM actions
), used AS (
    SELECT DISTINCT s.grant_id, s.scope_index
    FROM pairs p
    JOIN grant_credentials gc ON gc.credential_id = p.credential_id
    JOIN grant_scopes s ON s.grant_id = gc.grant_id
    WHERE action_matches(s.action, p.action)
)
SELECT s.grant_id, g.partner, g.owner, s.action AS scope
FROM grant_scopes s
JOIN grants g ON g.grant_id = s.grant_id
LEFT JOIN used u ON u.grant_id = s.grant_id AND u.scope_index = s.scope_index
WHERE u.grant_id IS NULL AND NOT s.is_emergency AND g.partner LIKE $partner
ORDER BY s.grant_id, s.scope_index
