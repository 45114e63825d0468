//! One alert, laid out for triage: what `grantwatch explain` shows (the reason, the
//! grants, each scope's verdict, the evidence, earlier alerts, a suppression stanza),
//! with the count over time from the alert's archived updates.

use std::sync::Arc;

use axum::extract::{Path, State};
use maud::{Markup, html};

use super::Console;
use super::chart;
use super::data::{PageError, everything, rows, text, time};
use super::page::{alert_links, layout, segment, table};
use crate::query::{self, GrantCard, literal};

/// `/alerts/{id}`.
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    let session = console.session(everything()?).await?;
    let now = chrono::Utc::now();
    let explained = query::explain(&session, &console.grants, &id, now).await?;
    let updates = rows(
        &session,
        &format!(
            "SELECT detected_at, max(count) AS count FROM alerts WHERE alert_id = {} \
             GROUP BY detected_at ORDER BY detected_at",
            literal(&id)
        ),
    )
    .await?;
    let points: Vec<(String, f64)> = updates
        .iter()
        .map(|r| (text(r, "detected_at"), super::data::number(r, "count")))
        .collect();
    let alert = &explained.alert;
    let field = |key: &str| text(alert, key);
    let severity = field("severity");
    let evidence_columns: Vec<&str> = explained
        .evidence
        .first()
        .map(|row| row.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let seen = |key: &str| time(alert, key).map_or_else(|| field(key), |t| t.to_rfc3339());
    Ok(layout(
        &format!("{} · {}", field("rule"), field("alert_id")),
        html! {
            section.card {
                p { span class=(format!("sev-{severity}")) { (severity) } " · " (field("summary")) }
                p { strong { "Why: " } (field("reason")) }
                dl.facts {
                    dt { "Credential" } dd { (field("credential_id")) }
                    dt { "Action" } dd { (field("action")) }
                    dt { "Events" } dd { (field("count")) }
                    dt { "First seen" } dd { (seen("first_seen")) }
                    dt { "Last seen" } dd { (seen("last_seen")) }
                    dt { "Group" } dd { (field("group")) }
                    dt { "Sample actions" } dd { (field("sample_actions")) }
                    dt { "Frameworks" } dd { (field("frameworks")) }
                }
            }
            h2 { "Grants binding the credential" }
            @if explained.grants.is_empty() {
                p.empty { "No grant binds this credential." }
            }
            @for card in &explained.grants { (grant_card(card)) }
            h2 { "Scope by scope, on the first event" }
            @if explained.verdicts.is_empty() {
                p.empty { "No scope to judge." }
            } @else {
                table {
                    thead { tr { th { "Grant" } th { "Scope" } th { "Verdict" } th { "Checks" } } }
                    tbody {
                        @for v in &explained.verdicts {
                            tr {
                                td { (v.grant_id) }
                                td { (v.scope) @if v.emergency { " (emergency)" } }
                                td class=(if v.allows { "ok" } else { "fail" }) {
                                    (if v.allows { "allows" } else { "does not allow" })
                                }
                                td {
                                    @for c in &v.checks {
                                        div class=(if c.ok { "ok" } else { "fail" }) {
                                            (c.check) ": " (c.detail)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Evidence (up to " (query::MAX_EVIDENCE) " events)" }
            (table(&evidence_columns, &explained.evidence, |_, _| None))
            h2 { "Count over time" }
            (chart::line("count at each delivery", &points, " events"))
            h2 { "Related alerts" }
            (table(&["alert_id", "rule", "severity", "count", "first_seen", "last_seen", "reason"],
                   &explained.earlier, alert_links))
            h2 { "Suppress it" }
            p { "Paste into a suppressions file and open a pull request; it expires by itself." }
            pre { (explained.suppression) }
        },
    ))
}

/// A grant as a card, linking to its page and its owner's.
pub(super) fn grant_card(card: &GrantCard) -> Markup {
    html! {
        section.card {
            h3 { a href=(format!("/grants/{}", segment(&card.grant_id))) { (card.grant_id) } }
            dl.facts {
                dt { "Purpose" } dd { (card.purpose) }
                dt { "Partner" } dd { (card.partner) }
                dt { "Owner" } dd {
                    @match &card.owner {
                        Some(owner) => a href=(format!("/owners/{}", segment(owner))) { (owner) },
                        None => span.fail { "none" },
                    }
                }
                dt { "Approved" } dd {
                    (card.approved_by.as_deref().unwrap_or("-")) " "
                    (card.approved_at.as_deref().unwrap_or(""))
                }
                dt { "Valid" } dd {
                    (card.valid_from.as_deref().unwrap_or("-")) " to " (card.expires_at.as_deref().unwrap_or("-"))
                }
                dt { "Status" } dd { (card.status) }
                dt { "Written in" } dd { (card.location) }
            }
        }
    }
}
