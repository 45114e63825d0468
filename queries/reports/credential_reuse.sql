-- report: credential_reuse
-- question: Which credentials serve more than one use case: bound by several grants, or used in several environments or by several claimed partners? (OWASP-NHI:NHI9, NHI8)
WITH bindings AS (
    SELECT credential_id, count(*) AS grants, array_agg(grant_id ORDER BY grant_id) AS grant_ids
    FROM grant_credentials GROUP BY credential_id
), combos AS (
    -- One pass over the history; the distinct counts then run over its few combinations.
    SELECT credential_id, environment, partner, source_ip, count(*) AS n
    FROM actions GROUP BY credential_id, environment, partner, source_ip
), usage AS (
    SELECT credential_id, sum(n) AS actions,
           count(DISTINCT environment) AS environments,
           count(DISTINCT partner) AS partners,
           count(DISTINCT source_ip) AS source_ips
    FROM combos GROUP BY credential_id
)
SELECT coalesce(b.credential_id, u.credential_id) AS credential_id,
       coalesce(b.grants, 0) AS grants, b.grant_ids,
       coalesce(u.actions, 0) AS actions, coalesce(u.environments, 0) AS environments,
       coalesce(u.partners, 0) AS partners, coalesce(u.source_ips, 0) AS source_ips
FROM bindings b
FULL JOIN usage u ON u.credential_id = b.credential_id
WHERE b.grants > 1 OR u.environments > 1 OR u.partners > 1
ORDER BY grants DESC, environments DESC, partners DESC, credential_id
