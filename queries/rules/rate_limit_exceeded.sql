-- rule: rate_limit_exceeded
-- severity: medium
-- summary: Partner credentials acted more often than their grant's rate_limit allows
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.AE-02, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, window_start
-- schedule: per_batch
-- Windows are fixed and epoch-aligned (window_start), counted over all the grant's
-- credentials: the actions of earlier batches come from `grant_rate_windows`, this
-- batch's are numbered in event-time order. Every action past the limit is an event
-- of the alert.
-- The limited grants are picked first, so a batch without them costs next to nothing.
WITH limited AS (
    SELECT gc.credential_id, g.grant_id, g.rate_limit, g.rate_limit_count, g.rate_window_ms
    FROM grants g
    JOIN grant_credentials gc ON gc.grant_id = g.grant_id
    WHERE g.rate_window_ms IS NOT NULL
),
bound AS (
    SELECT l.grant_id,
           a.credential_id,
           a.event_id,
           a.ts,
           l.rate_limit,
           l.rate_limit_count,
           l.rate_window_ms,
           window_start(a.ts, l.rate_window_ms) AS window_start
    FROM limited l
    JOIN actions a ON a.credential_id = l.credential_id
),
counted AS (
    SELECT b.*,
           coalesce(w.actions, 0)
               + row_number() OVER (PARTITION BY b.grant_id, b.window_start
                                    ORDER BY b.ts, b.event_id) AS n
    FROM bound b
    LEFT JOIN grant_rate_windows w
           ON w.grant_id = b.grant_id
          AND w.window_ms = b.rate_window_ms
          AND w.window_start = b.window_start
)
SELECT grant_id,
       credential_id,
       event_id,
       window_start,
       'action ' || CAST(n AS VARCHAR) || ' of grant ' || grant_id || ' in the window from '
           || to_char(window_start, '%Y-%m-%dT%H:%M:%SZ') || ' is over its rate_limit '
           || rate_limit AS reason
FROM counted
WHERE n > rate_limit_count
