-- report: grant_changes
-- question: When was each grant widened (scopes, environments, delegates, expiry), on whose approval, and which expiry extensions came without a new approval? (NIST-CSF-2.0:PR.AA-05)
-- From the grant versions archived at every load. A grant's first version is not a
-- change; loads that changed nothing are skipped. An emptied environments list
-- means "any environment": shown as '*'. Changes loaded in the window are listed,
-- each judged against the version before it, however old.
WITH v AS (
    SELECT *, lag(grant_hash) OVER (PARTITION BY grant_id ORDER BY loaded_at) AS prev_hash
    FROM grant_versions
), changed AS (
    SELECT * FROM v WHERE prev_hash IS NULL OR prev_hash <> grant_hash
), c AS (
    SELECT grant_id, loaded_at, approved_by, approved_at, expires_at, scopes,
           environments, delegates, scope_constraints,
           lag(grant_hash) OVER w AS prev_hash,
           lag(scopes) OVER w AS prev_scopes,
           lag(environments) OVER w AS prev_environments,
           lag(delegates) OVER w AS prev_delegates,
           lag(scope_constraints) OVER w AS prev_constraints,
           lag(expires_at) OVER w AS prev_expires_at,
           lag(approved_at) OVER w AS prev_approved_at,
           lag(approved_by) OVER w AS prev_approved_by
    FROM changed
    WINDOW w AS (PARTITION BY grant_id ORDER BY loaded_at)
), diff AS (
    SELECT grant_id, loaded_at AS changed_at, approved_by, approved_at,
           prev_approved_by, prev_approved_at,
           array_except(scopes, prev_scopes) AS scopes_added,
           CASE WHEN cardinality(environments) = 0 AND cardinality(prev_environments) > 0
                THEN make_array('*')
                ELSE array_except(environments, prev_environments) END AS environments_added,
           array_except(delegates, prev_delegates) AS delegates_added,
           cardinality(array_except(scope_constraints, prev_constraints)) > 0
               AND cardinality(array_except(scopes, prev_scopes)) = 0 AS constraints_changed,
           prev_expires_at, expires_at,
           coalesce(expires_at > prev_expires_at, false) AS expiry_extended
    FROM c
    WHERE prev_hash IS NOT NULL AND loaded_at >= $since AND loaded_at < $until
)
SELECT grant_id, changed_at, approved_by, approved_at, scopes_added, environments_added,
       delegates_added, constraints_changed, prev_expires_at, expires_at, expiry_extended,
       expiry_extended AND (approved_at IS NOT DISTINCT FROM prev_approved_at)
           AND (approved_by IS NOT DISTINCT FROM prev_approved_by) AS extended_without_approval
FROM diff
WHERE cardinality(scopes_added) > 0 OR cardinality(environments_added) > 0
   OR cardinality(delegates_added) > 0 OR constraints_changed OR expiry_extended
ORDER BY changed_at, grant_id
