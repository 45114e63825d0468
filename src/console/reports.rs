//! The canned reports: each with its declared parameters as a form, answered as a
//! table, and as CSV.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};

use super::Console;
use super::csv::csv_line;
use super::data::{PageError, Row, text, window};
use super::page::{alert_links, csv_response, href, layout, segment, table};
use crate::query::{Report, to_rows};

/// The window when the reader gives none.
const DEFAULT_SINCE: &str = "30d";

/// `/reports`.
pub(super) async fn index(State(console): State<Arc<Console>>) -> Markup {
    layout(
        "Reports",
        html! {
            table {
                thead { tr { th { "Report" } th { "Question" } } }
                tbody {
                    @for r in &console.reports {
                        tr {
                            td { a href=(format!("/reports/{}", segment(&r.name))) { (r.name) } }
                            td { (r.question) }
                        }
                    }
                }
            }
        },
    )
}

/// The report `name`, or a 404.
fn report<'a>(console: &'a Console, name: &str) -> Result<&'a Report, PageError> {
    console
        .reports
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| PageError::NotFound(format!("No report named `{name}`.")))
}

/// Runs `report` with the reader's parameters (`since` and `until` are the window).
async fn answer(
    console: &Console,
    report: &Report,
    mut params: BTreeMap<String, String>,
) -> Result<(Vec<String>, Vec<Row>), PageError> {
    let since = params.remove("since");
    let until = params.remove("until");
    params.retain(|_, v| !v.is_empty());
    let range = window(since.as_deref(), until.as_deref(), DEFAULT_SINCE)?;
    let session = console.session(range).await?;
    let (schema, batches) = session.run(report, &params).await?;
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    Ok((columns, to_rows(&batches)?))
}

/// `/reports/{name}`.
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Markup, PageError> {
    let report = report(&console, &name)?;
    let (columns, found) = answer(&console, report, params.clone()).await?;
    let value = |key: &str| params.get(key).cloned().unwrap_or_default();
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    Ok(layout(
        &format!("Report {name}"),
        html! {
            p { (report.question) }
            form.filters method="get" action=(format!("/reports/{}", segment(&name))) {
                label { "Since (time, date or 30d)" input type="text" name="since" value=(value("since")); }
                label { "Until" input type="text" name="until" value=(value("until")); }
                @for p in &report.params {
                    label {
                        (p.name)
                        input type="text" name=(p.name) value=(value(&p.name))
                            placeholder=(p.default.as_deref().unwrap_or("required"));
                    }
                }
                button type="submit" { "Run" }
                a href=(href(&format!("/reports/{}/csv", segment(&name)), pairs)) { "Download CSV" }
            }
            p { (found.len()) " rows." }
            (table(&columns, &found, alert_links))
        },
    ))
}

/// `/reports/{name}/csv`.
pub(super) async fn csv(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let report = report(&console, &name)?;
    let (columns, found) = answer(&console, report, params).await?;
    let mut body = csv_line(columns.iter().map(String::as_str));
    for row in &found {
        let cells: Vec<String> = columns.iter().map(|c| text(row, c)).collect();
        body.push_str(&csv_line(cells.iter().map(String::as_str)));
    }
    Ok(csv_response(&name, body))
}
