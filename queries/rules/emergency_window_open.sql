-- rule: emergency_window_open
-- severity: info
-- summary: A break-glass widening is in force for this grant
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:PR.AA-05
-- group_by: grant_id, emergency_from, emergency_until
-- schedule: every 1m
-- Tells the owner when a time-boxed widening opens, whether or not it is used;
-- emergency_access_used and emergency_overrun report its use.
SELECT grant_id,
       CAST(NULL AS VARCHAR) AS credential_id,
       emergency_from,
       emergency_until,
       'emergency widening open until ' || CAST(emergency_until AS VARCHAR) || ' ('
           || coalesce(emergency_reason, 'no reason given') || ', approved by '
           || coalesce(emergency_approved_by, 'nobody') || ')' AS reason
FROM grants
WHERE status = 'active'
  AND emergency_from IS NOT NULL
  AND emergency_until IS NOT NULL
  AND now() >= emergency_from
  AND now() < emergency_until
