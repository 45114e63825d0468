-- report: out_of_purpose_top
-- question: Which out-of-purpose actions does each grant see most, by events alerted? (OWASP-NHI:NHI5)
-- param: top = 10   (actions per grant)
-- From the alerts archive: an alert is archived again at each update with a larger
-- count, so each alert id counts once, at its largest count.
WITH per_id AS (
    -- One pass over the alerts; only what needs the alert's identity is grouped by it.
    SELECT grant_id, partner, action, alert_id, max(count) AS events,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM alerts WHERE rule = 'out_of_purpose_action'
    GROUP BY grant_id, partner, action, alert_id
), counted AS (
    SELECT grant_id, partner, action, sum(events) AS events, count(*) AS alerts,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM per_id GROUP BY grant_id, partner, action
), per_action AS (
    -- Times span the grant's action whichever partner the alerts named.
    SELECT grant_id, partner, action, events, alerts,
           min(first_seen) OVER (PARTITION BY grant_id, action) AS first_seen,
           max(last_seen) OVER (PARTITION BY grant_id, action) AS last_seen
    FROM counted
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY grant_id ORDER BY events DESC, action) AS rank
    FROM per_action
)
SELECT grant_id, partner, action, events, alerts, first_seen, last_seen
FROM ranked
WHERE rank <= CAST($top AS BIGINT)
ORDER BY events DESC, grant_id, action
