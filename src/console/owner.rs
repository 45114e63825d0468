//! An owner's page: every grant they are accountable for, with its open alerts and
//! its to-dos. Accountability stays with the named internal owner.

use std::sync::Arc;

use axum::extract::{Path, State};
use maud::{Markup, html};

use super::Console;
use super::alert::grant_card;
use super::data::{PageError, rows, window};
use super::overview::todo_lists;
use super::page::{alert_links, layout, table};
use super::todo::Todos;
use crate::query::{GrantCard, literal};

/// Alerts count as open for this many days after their last event.
const OPEN_DAYS: u32 = 30;

/// `/owners/{owner}`.
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Path(owner): Path<String>,
) -> Result<Markup, PageError> {
    let grants: Vec<_> = console
        .grants
        .grants()
        .iter()
        .filter(|g| g.owner.as_deref() == Some(owner.as_str()))
        .collect();
    if grants.is_empty() {
        return Err(PageError::NotFound(format!(
            "No grant in force names `{owner}` as its owner."
        )));
    }
    let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
    let session = console.session(window(None, None, "90d")?).await?;
    let listed: Vec<String> = ids.iter().map(|id| literal(id)).collect();
    let alerts = rows(
        &session,
        &format!(
            "SELECT alert_id, grant_id, rule, severity, max(count) AS count, max(last_seen) AS last_seen \
             FROM alerts WHERE grant_id IN ({}) AND last_seen >= now() - INTERVAL '{OPEN_DAYS} days' \
             GROUP BY alert_id, grant_id, rule, severity ORDER BY last_seen DESC LIMIT 200",
            listed.join(", ")
        ),
    )
    .await?;
    let todos = Todos::of(&console, &session).await?.only(&ids);
    Ok(layout(
        &format!("Owner {owner}"),
        html! {
            p { (grants.len()) " grants in force name this owner." }
            h2 { "Open alerts (last event within " (OPEN_DAYS) " days)" }
            (table(&["alert_id", "grant_id", "rule", "severity", "count", "last_seen"], &alerts, alert_links))
            (todo_lists(&todos))
            h2 { "Grants" }
            @for grant in &grants { (grant_card(&GrantCard::of(grant))) }
        },
    ))
}
