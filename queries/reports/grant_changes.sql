-- report: grant_changes
-- question: When was each grant widened (scopes, environments, delegates, expiry), on whose approval, and which expiry extensions came without a new approval? (NIST-CSF-2.0:PR.AA-05)
-- From the grant versions archived at every load. A grant's first version is not a
-- change; loads that changed nothing are skipped. An emptied environments list
-- means "any environment": shown as '*'. Changes loaded in the window are listed,
-- each judged against the version before it, however old.
WITH v AS (
    SELECT grant_id, grant_hash, loaded_at,
           lag(grant_hash) OVER (PARTITION BY grant_id ORDER BY loaded_at) AS prev_hash
    FROM grant_versions
), changed AS (
    -- Window functions over scalars only; the versions' lists come back by join
    -- (lag over list columns is slow in DataFusion).
    SELECT grant_id, loaded_at,
           lag(loaded_at) OVER (PARTITION BY grant_id ORDER BY loaded_at) AS prev_loaded_at
    FROM v WHERE prev_hash IS NULL OR prev_hash <> grant_hash
), diff AS (
    SELECT c.grant_id, c.loaded_at AS changed_at, n.approved_by, n.approved_at,
           o.approved_by AS prev_approved_by, o.approved_at AS prev_approved_at,
           array_except(n.scopes, o.scopes) AS scopes_added,
           CASE WHEN cardinality(n.environments) = 0 AND cardinality(o.environments) > 0
                THEN make_array('*')
                ELSE array_except(n.environments, o.environments) END AS environments_added,
           array_except(n.delegates, o.delegates) AS delegates_added,
           cardinality(array_except(n.scope_constraints, o.scope_constraints)) > 0
               AND cardinality(array_except(n.scopes, o.scopes)) = 0 AS constraints_changed,
           o.expires_at AS prev_expires_at, n.expires_at,
           coalesce(n.expires_at > o.expires_at, false) AS expiry_extended
    FROM changed c
    JOIN grant_versions n ON n.grant_id = c.grant_id AND n.loaded_at = c.loaded_at
    JOIN grant_versions o ON o.grant_id = c.grant_id AND o.loaded_at = c.prev_loaded_at
    WHERE c.loaded_at >= $since AND c.loaded_at < $until
)
SELECT grant_id, changed_at, approved_by, approved_at, scopes_added, environments_added,
       delegates_added, constraints_changed, prev_expires_at, expires_at, expiry_extended,
       expiry_extended AND (approved_at IS NOT DISTINCT FROM prev_approved_at)
           AND (approved_by IS NOT DISTINCT FROM prev_approved_by) AS extended_without_approval
FROM diff
WHERE cardinality(scopes_added) > 0 OR cardinality(environments_added) > 0
   OR cardinality(delegates_added) > 0 OR constraints_changed OR expiry_extended
ORDER BY changed_at, grant_id
