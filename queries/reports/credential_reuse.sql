-- report: credential_reuse
-- question: Which credentials serve more than one use case: bound by several grants, or used in several environments or by several claimed partners? (OWASP-NHI:NHI9, NHI8)
WITH bindings AS (
    SELECT credential_id, count(*) AS grants, array_agg(grant_id ORDER BY grant_id) AS grant_ids
    FROM grant_credentials GROUP BY credential_id
), combos AS (
    -- One pass over the history; the distinct counts then run over its few combinations.
    SELECT credential_id, environment, partner, source_ip, count(*) AS n
    FROM actions GROUP BY credential_id, environment, partner, source_ip
), distinct_values AS (
    -- Each credential's distinct values of each column, in one more pass over the few
    -- combinations: count(DISTINCT) would keep a hash set per credential and column.
    SELECT credential_id, environment, partner, source_ip, sum(n) AS n,
           grouping(environment) AS all_environments, grouping(partner) AS all_partners,
           grouping(source_ip) AS all_source_ips
    FROM combos
    GROUP BY GROUPING SETS ((credential_id), (credential_id, environment),
                            (credential_id, partner), (credential_id, source_ip))
), usage AS (
    -- count() skips NULLs, as count(DISTINCT) does.
    SELECT credential_id,
           sum(CASE WHEN all_environments = 1 AND all_partners = 1 AND all_source_ips = 1
                    THEN n END) AS actions,
           count(CASE WHEN all_environments = 0 THEN environment END) AS environments,
           count(CASE WHEN all_partners = 0 THEN partner END) AS partners,
           count(CASE WHEN all_source_ips = 0 THEN source_ip END) AS source_ips
    FROM distinct_values GROUP BY credential_id
)
SELECT coalesce(b.credential_id, u.credential_id) AS credential_id,
       coalesce(b.grants, 0) AS grants, b.grant_ids,
       coalesce(u.actions, 0) AS actions, coalesce(u.environments, 0) AS environments,
       coalesce(u.partners, 0) AS partners, coalesce(u.source_ips, 0) AS source_ips
FROM bindings b
FULL JOIN usage u ON u.credential_id = b.credential_id
WHERE b.grants > 1 OR u.environments > 1 OR u.partners > 1
ORDER BY grants DESC, environments DESC, partners DESC, credential_id
