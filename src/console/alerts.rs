//! The alerts list: filterable, sortable, paged, with the filters in the URL and a
//! CSV export of the same rows. Each alert is shown as last archived (its latest
//! count), from the window's day directories only.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::Console;
use super::csv::csv_line;
use super::data::{PageError, Row, rows, text, window};
use super::page::{alert_links, csv_response, href, layout, table};
use crate::query::literal;

/// Alerts per page.
const PAGE: usize = 50;
/// Alerts in one CSV export, at most.
const EXPORT: usize = 100_000;
/// The window when the reader gives none.
const DEFAULT_SINCE: &str = "30d";

/// The columns listed, in order.
const COLUMNS: [&str; 11] = [
    "alert_id",
    "severity",
    "rule",
    "grant_id",
    "partner",
    "owner",
    "credential_id",
    "action",
    "count",
    "first_seen",
    "last_seen",
];

/// The filters, as the URL carries them.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    severity: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    grant: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// Words to find in the reason.
    #[serde(default)]
    q: String,
    /// `first_seen` (default), `last_seen`, `count`, `severity`, `rule`, `grant_id`.
    #[serde(default)]
    sort: String,
    /// `asc`, else descending.
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: usize,
}

impl Filters {
    /// The filters as URL pairs, without the page.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("severity", &self.severity),
            ("rule", &self.rule),
            ("grant", &self.grant),
            ("partner", &self.partner),
            ("owner", &self.owner),
            ("since", &self.since),
            ("until", &self.until),
            ("q", &self.q),
            ("sort", &self.sort),
            ("dir", &self.dir),
        ]
    }

    /// The SQL of the matching alerts, each at its latest archived row.
    fn sql(&self, limit: usize, offset: usize) -> String {
        let mut conditions = vec!["version = 1".to_owned()];
        for (column, value) in [
            ("severity", &self.severity),
            ("rule", &self.rule),
            ("grant_id", &self.grant),
            ("partner", &self.partner),
            ("owner", &self.owner),
        ] {
            if !value.is_empty() {
                conditions.push(format!("{column} = {}", literal(value)));
            }
        }
        if !self.q.is_empty() {
            conditions.push(format!(
                "strpos(lower(reason), lower({})) > 0",
                literal(&self.q)
            ));
        }
        let order = match self.sort.as_str() {
            "last_seen" => "last_seen",
            "count" => "count",
            "rule" => "rule",
            "grant_id" => "grant_id",
            "severity" => {
                "CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 \
                 WHEN 'low' THEN 1 ELSE 0 END"
            }
            _ => "first_seen",
        };
        let dir = if self.dir == "asc" { "ASC" } else { "DESC" };
        format!(
            "WITH latest AS (SELECT *, row_number() OVER (PARTITION BY alert_id \
             ORDER BY count DESC, detected_at DESC) AS version FROM alerts) \
             SELECT {}, reason FROM latest WHERE {} ORDER BY {order} {dir}, alert_id \
             LIMIT {limit} OFFSET {offset}",
            COLUMNS.join(", "),
            conditions.join(" AND ")
        )
    }

    async fn rows(
        &self,
        console: &Console,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Row>, PageError> {
        let range = window(Some(&self.since), Some(&self.until), DEFAULT_SINCE)?;
        let session = console.session(range).await?;
        rows(&session, &self.sql(limit, offset)).await
    }
}

/// `/alerts`.
pub(super) async fn page(
    State(console): State<Arc<Console>>,
    Query(filters): Query<Filters>,
) -> Result<Markup, PageError> {
    let mut found = filters
        .rows(&console, PAGE + 1, filters.page * PAGE)
        .await?;
    let more = found.len() > PAGE;
    found.truncate(PAGE);
    let pairs = filters.pairs();
    let page_link = |page: usize| {
        let page = page.to_string();
        let mut pairs = pairs.clone();
        pairs.push(("page", &page));
        href("/alerts", pairs)
    };
    let sort_link = |column: &str| {
        let mut pairs: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| *k != "sort" && *k != "dir")
            .cloned()
            .collect();
        pairs.push(("sort", column));
        if filters.sort == column && filters.dir != "asc" {
            pairs.push(("dir", "asc"));
        }
        href("/alerts", pairs)
    };
    Ok(layout(
        "Alerts",
        html! {
            form.filters method="get" action="/alerts" {
                label { "Severity"
                    select name="severity" {
                        option value="" { "any" }
                        @for (s, _) in super::chart::SEVERITIES {
                            option value=(s) selected[filters.severity == s] { (s) }
                        }
                    }
                }
                (input("rule", "Rule", &filters.rule))
                (input("grant", "Grant", &filters.grant))
                (input("partner", "Partner", &filters.partner))
                (input("owner", "Owner", &filters.owner))
                (input("since", "Since (time, date or 30d)", &filters.since))
                (input("until", "Until", &filters.until))
                (input("q", "Reason contains", &filters.q))
                input type="hidden" name="sort" value=(filters.sort);
                input type="hidden" name="dir" value=(filters.dir);
                button type="submit" { "Filter" }
                a href=(href("/alerts.csv", pairs.clone())) { "Download CSV" }
            }
            p.sort {
                "Sort by: "
                @for column in ["first_seen", "last_seen", "count", "severity", "rule", "grant_id"] {
                    a href=(sort_link(column)) { (column) } " "
                }
            }
            (table(&COLUMNS, &found, alert_links))
            div.pager {
                @if filters.page > 0 {
                    a href=(page_link(filters.page - 1)) { "← Newer page" }
                }
                span { "Page " (filters.page + 1) }
                @if more {
                    a href=(page_link(filters.page + 1)) { "Next page →" }
                }
            }
        },
    ))
}

fn input(name: &str, label: &str, value: &str) -> Markup {
    html! { label { (label) input type="text" name=(name) value=(value); } }
}

/// `/alerts.csv`: the same rows, all pages (up to 100,000), reason included.
pub(super) async fn csv(
    State(console): State<Arc<Console>>,
    Query(filters): Query<Filters>,
) -> Result<Response, PageError> {
    let found = filters.rows(&console, EXPORT, 0).await?;
    let mut body = csv_line(COLUMNS.iter().copied().chain(["reason"]));
    for row in &found {
        let cells: Vec<String> = COLUMNS
            .iter()
            .chain(&["reason"])
            .map(|c| text(row, c))
            .collect();
        body.push_str(&csv_line(cells.iter().map(String::as_str)));
    }
    Ok(csv_response("alerts", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_literals_and_sorting_is_a_known_column() {
        let filters = Filters {
            rule: "x' OR '1'='1".into(),
            q: "100%".into(),
            sort: "reason; DROP".into(),
            ..Filters::default()
        };
        let sql = filters.sql(10, 0);
        assert!(sql.contains("rule = 'x'' OR ''1''=''1'"), "{sql}");
        assert!(sql.contains("ORDER BY first_seen DESC"), "{sql}");
    }
}
