-- report: out_of_purpose_top
-- question: Which out-of-purpose actions does each grant see most, by events alerted? (OWASP-NHI:NHI5)
-- param: top = 10   (actions per grant)
-- From the alerts archive: an alert is archived again at each update with a larger
-- count, so each alert id counts once, at its largest count.
WITH oop AS (
    SELECT alert_id, grant_id, partner, action, count, first_seen, last_seen
    FROM alerts WHERE rule = 'out_of_purpose_action'
), per_id AS (
    -- Only what needs the alert's identity is grouped by it.
    SELECT grant_id, partner, action, alert_id, max(count) AS events
    FROM oop GROUP BY grant_id, partner, action, alert_id
), counted AS (
    SELECT grant_id, partner, action, sum(events) AS events, count(*) AS alerts
    FROM per_id GROUP BY grant_id, partner, action
), timed AS (
    SELECT grant_id, action, min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM oop GROUP BY grant_id, action
), per_action AS (
    SELECT c.*, t.first_seen, t.last_seen
    FROM counted c JOIN timed t ON t.grant_id = c.grant_id AND t.action = c.action
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY grant_id ORDER BY events DESC, action) AS rank
    FROM per_action
)
SELECT grant_id, partner, action, events, alerts, first_seen, last_seen
FROM ranked
WHERE rank <= CAST($top AS BIGINT)
ORDER BY events DESC, grant_id, action
