//! One grant: its card with an expiry countdown, each scope as used or unused with
//! its last use and the actions outside every scope, the drift over time, its
//! change history from the archived versions, and the least-privilege proposal as
//! a diff against the file.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::Console;
use super::alert::grant_card;
use super::chart;
use super::data::{PageError, Row, number, rows, text, time, window};
use super::diff::line_diff;
use super::page::{alert_links, layout, table};
use crate::grants::Grant;
use crate::query::{self, GrantCard, find_report, literal};

/// The window when the reader gives none: long enough for idle grants.
const DEFAULT_SINCE: &str = "90d";
/// Distinct actions read per grant, at most.
const MAX_ACTIONS: usize = 10_000;

/// `?since=&until=`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Window {
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

/// How a scope fared in the window.
struct ScopeUse {
    pattern: String,
    emergency: bool,
    actions: f64,
    last_used: Option<String>,
}

/// What the grant's credentials did in the window, judged against its scopes.
struct GrantUse {
    scopes: Vec<ScopeUse>,
    /// Actions no scope allows: count and last use.
    outside: BTreeMap<String, (f64, String)>,
    /// Per day, the share of actions outside every scope.
    drift: Vec<(String, f64)>,
}

/// `/grants/{id}`.
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    Query(w): Query<Window>,
) -> Result<Markup, PageError> {
    let grant = console
        .grants
        .get(&id)
        .ok_or_else(|| PageError::NotFound(format!("No grant `{id}` in force.")))?;
    let range = window(Some(&w.since), Some(&w.until), DEFAULT_SINCE)?;
    let session = console.session(range).await?;
    let credentials: Vec<String> = grant.credentials.iter().map(|c| literal(c)).collect();
    let used = if credentials.is_empty() {
        Vec::new()
    } else {
        rows(
            &session,
            &format!(
                "SELECT action, CAST(date_trunc('day', ts) AS DATE) AS day, count(*) AS n, \
                 max(ts) AS last_used FROM actions WHERE credential_id IN ({}) \
                 GROUP BY action, CAST(date_trunc('day', ts) AS DATE) \
                 ORDER BY n DESC LIMIT {MAX_ACTIONS}",
                credentials.join(", ")
            ),
        )
        .await?
    };
    let GrantUse {
        scopes,
        outside,
        drift,
    } = judge_use(grant, &used);
    let versions = rows(
        &session,
        &format!(
            "SELECT loaded_at, approved_by, approved_at, expires_at, grant_hash FROM grant_versions \
             WHERE grant_id = {} ORDER BY loaded_at DESC LIMIT 50",
            literal(&id)
        ),
    )
    .await?;
    let changes: Vec<Row> = match find_report("grant_changes", &console.reports) {
        Ok(report) => {
            let (_, batches) = session.run(&report, &BTreeMap::new()).await?;
            query::to_rows(&batches)?
                .into_iter()
                .filter(|r| text(r, "grant_id") == id)
                .collect()
        }
        Err(_) => Vec::new(),
    };
    let alerts = rows(
        &session,
        &format!(
            "SELECT alert_id, rule, severity, max(count) AS count, min(first_seen) AS first_seen, \
             max(last_seen) AS last_seen FROM alerts WHERE grant_id = {} \
             GROUP BY alert_id, rule, severity ORDER BY last_seen DESC LIMIT 50",
            literal(&id)
        ),
    )
    .await?;
    let proposal = query::propose(&session, grant, range).await?;
    let written = written_text(grant);
    let diff = line_diff(&written, &proposal);
    let card = GrantCard::of(grant);
    Ok(layout(
        &format!("Grant {id}"),
        html! {
            (grant_card(&card))
            p { (countdown(grant)) }
            h2 { "Scopes in the window" }
            table {
                thead { tr { th { "Scope" } th { "Use" } th { "Actions" } th { "Last used" } } }
                tbody {
                    @for s in &scopes {
                        tr {
                            td { (s.pattern) @if s.emergency { " (emergency)" } }
                            @if s.actions > 0.0 {
                                td.ok { "used" }
                            } @else {
                                td.fail { "unused" }
                            }
                            td { (s.actions) }
                            td { (s.last_used.as_deref().unwrap_or("-")) }
                        }
                    }
                    @for (action, (n, last)) in &outside {
                        tr {
                            td { (action) }
                            td.fail { "outside the grant" }
                            td { (n) }
                            td { (last) }
                        }
                    }
                }
            }
            h2 { "Drift over time (share of actions outside every scope, per day)" }
            (chart::line("drift per day", &drift, ""))
            h2 { "Alerts" }
            (table(&["alert_id", "rule", "severity", "count", "first_seen", "last_seen"], &alerts, alert_links))
            h2 { "Changes (widening, from the archived versions)" }
            (table(&["changed_at", "approved_by", "approved_at", "scopes_added", "environments_added",
                     "delegates_added", "constraints_changed", "expiry_extended", "extended_without_approval"],
                   &changes, |_, _| None))
            h2 { "Versions loaded" }
            (table(&["loaded_at", "approved_by", "approved_at", "expires_at", "grant_hash"], &versions, |_, _| None))
            h2 { "Least-privilege proposal, against " (card.location) }
            p { "Lines marked - would go, + would come. Review it and open a pull request." }
            pre { @for line in &diff { (line) "\n" } }
        },
    ))
}

/// Each scope's use, the actions no scope allows, and the outside share per day.
fn judge_use(grant: &Grant, used: &[Row]) -> GrantUse {
    let emergency = grant
        .emergency
        .as_deref()
        .map(|e| e.scopes.as_slice())
        .unwrap_or_default();
    let mut scopes: Vec<ScopeUse> = grant
        .scopes
        .iter()
        .map(|s| (s, false))
        .chain(emergency.iter().map(|s| (s, true)))
        .map(|(s, emergency)| ScopeUse {
            pattern: s.action.as_str().to_owned(),
            emergency,
            actions: 0.0,
            last_used: None,
        })
        .collect();
    let patterns: Vec<_> = grant
        .scopes
        .iter()
        .chain(emergency)
        .map(|s| &s.action)
        .collect();
    let mut outside: BTreeMap<String, (f64, String)> = BTreeMap::new();
    let mut days: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for row in used {
        let action = text(row, "action");
        let n = number(row, "n");
        let last =
            time(row, "last_used").map_or_else(|| text(row, "last_used"), |t| t.to_rfc3339());
        let day = days.entry(text(row, "day")).or_default();
        day.0 += n;
        let mut matched = false;
        for (scope, pattern) in scopes.iter_mut().zip(&patterns) {
            if pattern.matches(&action) {
                matched = true;
                scope.actions += n;
                if scope.last_used.as_ref().is_none_or(|l| *l < last) {
                    scope.last_used = Some(last.clone());
                }
            }
        }
        if !matched {
            day.1 += n;
            let entry = outside.entry(action).or_insert((0.0, String::new()));
            entry.0 += n;
            if entry.1 < last {
                entry.1 = last;
            }
        }
    }
    let drift = days
        .into_iter()
        .map(|(day, (all, out))| (day, if all > 0.0 { out / all } else { 0.0 }))
        .collect();
    GrantUse {
        scopes,
        outside,
        drift,
    }
}

/// Days until the grant expires, or since it did.
fn countdown(grant: &Grant) -> String {
    match grant.expires_at {
        None => "Does not expire.".into(),
        Some(at) => {
            let days = (at - chrono::Utc::now()).num_days();
            if days >= 0 {
                format!("Expires in {days} days ({}).", at.to_rfc3339())
            } else {
                format!("Expired {} days ago ({}).", -days, at.to_rfc3339())
            }
        }
    }
}

/// The grant as written in its file: from its line to the next list item, if the
/// file can be read; else empty (the diff is then all additions).
fn written_text(grant: &Grant) -> String {
    let Ok(file) = std::fs::read_to_string(&grant.location.file) else {
        return String::new();
    };
    let start = grant.location.line.unwrap_or(1).saturating_sub(1);
    let lines: Vec<&str> = file.lines().skip(start).collect();
    let end = lines
        .iter()
        .skip(1)
        .position(|l| l.starts_with("- "))
        .map_or(lines.len(), |p| p + 1);
    lines[..end].join("\n")
}
