-- report: alerts_summary
-- question: How many alerts and alerted events did each rule raise in the window, at what severity, across how many grants?
-- An alert is archived again at each update; each id counts once, at its largest count
-- and highest severity. Windows are by the alert's first event.
WITH latest AS (
    SELECT alert_id, rule, grant_id, max(count) AS events,
           max(CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
                             WHEN 'low' THEN 1 ELSE 0 END) AS severity_rank,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM alerts
    GROUP BY alert_id, rule, grant_id
)
SELECT rule,
       CASE max(severity_rank) WHEN 4 THEN 'critical' WHEN 3 THEN 'high' WHEN 2 THEN 'medium'
                               WHEN 1 THEN 'low' ELSE 'info' END AS severity,
       count(*) AS alerts, sum(events) AS events, count(DISTINCT grant_id) AS grants,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM latest
GROUP BY rule
ORDER BY max(severity_rank) DESC, alerts DESC, rule
