-- rule: daily_amount_exceeded
-- severity: high
-- summary: Partner credentials moved more money in a day than their grant's max_daily_amount
-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.CM-06
-- group_by: grant_id, day, currency
-- schedule: per_batch
-- Per UTC day and currency, over all the grant's credentials and successful actions:
-- earlier batches' sums come from `grant_daily_amounts`, this batch's accumulate in
-- event-time order. Every action that takes the total past the limit is an event of
-- the alert.
-- The limited grants are picked first, so a batch without them costs next to nothing.
WITH limited AS (
    SELECT gc.credential_id, g.grant_id, g.max_daily_amount
    FROM grants g
    JOIN grant_credentials gc ON gc.grant_id = g.grant_id
    WHERE g.max_daily_amount IS NOT NULL
),
bound AS (
    SELECT l.grant_id,
           a.credential_id,
           a.event_id,
           a.ts,
           a.amount,
           a.currency,
           l.max_daily_amount,
           window_start(a.ts, 86400000) AS day
    FROM limited l
    JOIN actions a ON a.credential_id = l.credential_id
    WHERE a.amount IS NOT NULL
      AND a.outcome = 'success'
),
summed AS (
    SELECT b.*,
           coalesce(d.amount, 0)
               + sum(b.amount) OVER (PARTITION BY b.grant_id, b.day, b.currency
                                     ORDER BY b.ts, b.event_id
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS total
    FROM bound b
    LEFT JOIN grant_daily_amounts d
           ON d.grant_id = b.grant_id
          AND d.day = b.day
          AND coalesce(d.currency, '') = coalesce(b.currency, '')
)
SELECT grant_id,
       credential_id,
       event_id,
       day,
       coalesce(currency, '') AS currency,
       'grant ' || grant_id || ' moved ' || CAST(total AS VARCHAR) || coalesce(' ' || currency, '')
           || ' on ' || to_char(day, '%Y-%m-%d') || ', over its max_daily_amount '
           || CAST(max_daily_amount AS VARCHAR) AS reason
FROM summed
WHERE total > max_daily_amount
