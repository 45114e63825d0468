-- report: alerts_summary
-- question: How many alerts and alerted events did each rule raise in the window, at what severity, across how many grants?
-- An alert is archived again at each update; each id counts once, at its largest count
-- and highest severity. Windows are by the alert's first event.
WITH per_id AS (
    -- Only what needs the alert's identity is grouped by it.
    SELECT rule, alert_id, max(count) AS events FROM alerts GROUP BY rule, alert_id
), counted AS (
    SELECT rule, count(*) AS alerts, sum(events) AS events FROM per_id GROUP BY rule
), described AS (
    SELECT rule,
           max(CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
                             WHEN 'low' THEN 1 ELSE 0 END) AS severity_rank,
           count(DISTINCT grant_id) AS grants,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM alerts GROUP BY rule
)
SELECT c.rule,
       CASE d.severity_rank WHEN 4 THEN 'critical' WHEN 3 THEN 'high' WHEN 2 THEN 'medium'
                            WHEN 1 THEN 'low' ELSE 'info' END AS severity,
       c.alerts, c.events, d.grants, d.first_seen, d.last_seen
FROM counted c JOIN described d ON d.rule = c.rule
ORDER BY d.severity_rank DESC, c.alerts DESC, c.rule
