-- rule: human_use_of_credential
-- severity: medium
-- summary: A partner's non-human credential used from an interactive client (browser, cloud console, API explorer)
-- frameworks: OWASP-NHI:NHI10, NIST-CSF-2.0:PR.AA-05, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, credential_id
-- schedule: per_batch
-- A person behind a service credential loses the accountability of a named login.
-- Command-line clients and SDKs are not counted: automation uses them too.
SELECT gc.grant_id,
       a.credential_id,
       a.event_id,
       'credential ' || a.credential_id || ' of ' || gc.grant_id || ' used interactively (user agent '
           || a.user_agent || ')' AS reason
FROM actions a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
WHERE a.user_agent LIKE 'Mozilla/%'
   OR a.user_agent LIKE 'PostmanRuntime/%'
   OR a.user_agent LIKE 'insomnia/%'
   OR lower(a.user_agent) LIKE '%console.amazonaws.com%'
   -- The service consoles: console.ec2.amazonaws.com, console.s3.amazonaws.com, …
   OR lower(a.user_agent) LIKE 'console.%.amazonaws.com%'
   OR lower(a.user_agent) LIKE '%signin.amazonaws.com%'
   OR lower(a.user_agent) LIKE '%console.cloud.google.com%'
