//! The overview: alerts over time by severity, the grants drifting most from their
//! purpose, and the to-dos (idle, expiring, unowned grants) with their owners.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use chrono::{Duration, Utc};
use maud::{Markup, html};

use super::Console;
use super::chart::{SEVERITIES, stacked_bars};
use super::data::{PageError, number, rows, text, window};
use super::page::{alert_links, layout, table};
use super::todo::{EXPIRING_DAYS, Todos};

/// Days the chart covers.
const CHART_DAYS: i64 = 30;
/// The window read: long enough for idle grants.
const WINDOW: &str = "90d";

/// Drift per grant: the share of its credentials' actions that no scope of any grant
/// binding them allows, over the last seven days.
const DRIFT: &str = "WITH pairs AS (
    SELECT credential_id, action, count(*) AS n FROM actions
    WHERE ts >= now() - INTERVAL '7 days' GROUP BY credential_id, action
), matched AS (
    SELECT DISTINCT p.credential_id, p.action FROM pairs p
    JOIN grant_credentials gc ON gc.credential_id = p.credential_id
    JOIN grant_scopes s ON s.grant_id = gc.grant_id
    WHERE action_matches(s.action, p.action)
), per_grant AS (
    SELECT gc.grant_id, p.n, m.action IS NULL AS outside FROM pairs p
    JOIN grant_credentials gc ON gc.credential_id = p.credential_id
    LEFT JOIN matched m ON m.credential_id = p.credential_id AND m.action = p.action
)
SELECT g.grant_id, g.partner, g.owner, sum(per_grant.n) AS actions,
       sum(CASE WHEN outside THEN per_grant.n ELSE 0 END) AS out_of_purpose,
       round(CAST(sum(CASE WHEN outside THEN per_grant.n ELSE 0 END) AS DOUBLE) / sum(per_grant.n), 4)
           AS drift_ratio
FROM per_grant JOIN grants g ON g.grant_id = per_grant.grant_id
GROUP BY g.grant_id, g.partner, g.owner
HAVING sum(CASE WHEN outside THEN per_grant.n ELSE 0 END) > 0
ORDER BY drift_ratio DESC, actions DESC, g.grant_id LIMIT 10";

/// `/`.
pub(super) async fn page(State(console): State<Arc<Console>>) -> Result<Markup, PageError> {
    let session = console.session(window(None, None, WINDOW)?).await?;
    let per_day = rows(
        &session,
        &format!(
            "SELECT CAST(CAST(date_trunc('day', first_seen) AS DATE) AS VARCHAR) AS day, severity, \
             count(DISTINCT alert_id) AS n FROM alerts \
             WHERE first_seen >= now() - INTERVAL '{CHART_DAYS} days' GROUP BY 1, 2"
        ),
    )
    .await?;
    let today = Utc::now().date_naive();
    let mut days: BTreeMap<String, [f64; 5]> = (0..CHART_DAYS)
        .rev()
        .map(|back| ((today - Duration::days(back)).to_string(), [0.0; 5]))
        .collect();
    for row in &per_day {
        let severity = text(row, "severity");
        if let (Some(counts), Some(s)) = (
            days.get_mut(&text(row, "day")),
            SEVERITIES.iter().position(|(name, _)| *name == severity),
        ) {
            counts[s] += number(row, "n");
        }
    }
    let bars: Vec<(String, [f64; 5])> = days.into_iter().collect();
    let drift = rows(&session, DRIFT).await?;
    let todos = Todos::of(&console, &session).await?;
    Ok(layout(
        "Overview",
        html! {
            h2 { "Alerts per day, last " (CHART_DAYS) " days" }
            (stacked_bars("alerts per day by severity", &bars))
            h2 { "Grants drifting most from their purpose (last 7 days)" }
            (table(&["grant_id", "partner", "owner", "actions", "out_of_purpose", "drift_ratio"], &drift, alert_links))
            (todo_lists(&todos))
        },
    ))
}

/// The to-do lists, each grant with its owner.
pub(super) fn todo_lists(todos: &Todos) -> Markup {
    html! {
        h2 { "To do: idle grants (revoke?)" }
        (table(&["grant_id", "partner", "owner", "last_seen", "idle_days", "idle_after_days"], &todos.idle, alert_links))
        h2 { "To do: grants expiring within " (EXPIRING_DAYS) " days (renew or let lapse?)" }
        (table(&["grant_id", "partner", "owner", "expires_at", "actions", "last_seen"], &todos.expiring, alert_links))
        h2 { "To do: grants without an owner (name one)" }
        (table(&["grant_id", "partner", "purpose"], &todos.unowned, alert_links))
    }
}
