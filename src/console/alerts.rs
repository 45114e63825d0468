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

    /// The conditions on an archived alert row.
    fn conditions(&self) -> Vec<String> {
        let mut conditions = vec!["true".to_owned()];
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
        conditions
    }

    /// The sort key and its direction.
    fn order(&self) -> (&'static str, &'static str) {
        let key = match self.sort.as_str() {
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
        (key, if self.dir == "asc" { "ASC" } else { "DESC" })
    }

    /// Whether an alert's latest archived row sorts before its earlier ones: an
    /// update only widens `last_seen` and grows `count` and severity, and leaves
    /// `first_seen`, the rule and the grant as they were. Then the rows can be
    /// sorted as they are (a top-k, tens of milliseconds over 100,000 alerts) and
    /// only each alert's first row kept; otherwise each alert's latest row is found
    /// first (a window over every row, about a second).
    fn latest_sorts_first(&self) -> bool {
        self.order().1 == "DESC" || matches!(self.order().0, "first_seen" | "rule" | "grant_id")
    }

    /// The SQL of the matching rows, sorted, at most `limit` of them. With
    /// [`Filters::latest_sorts_first`] an alert may have several rows here (the
    /// caller keeps the first); otherwise only its latest, from `offset`.
    fn sql(&self, limit: usize, offset: usize) -> String {
        let (key, dir) = self.order();
        let columns = COLUMNS.join(", ");
        let conditions = self.conditions().join(" AND ");
        if self.latest_sorts_first() {
            format!(
                "SELECT {columns}, reason FROM alerts WHERE {conditions} \
                 ORDER BY {key} {dir}, alert_id, count DESC, detected_at DESC LIMIT {limit}"
            )
        } else {
            format!(
                "WITH latest AS (SELECT *, row_number() OVER (PARTITION BY alert_id \
                 ORDER BY count DESC, detected_at DESC) AS version FROM alerts) \
                 SELECT {columns}, reason FROM latest WHERE version = 1 AND {conditions} \
                 ORDER BY {key} {dir}, alert_id LIMIT {limit} OFFSET {offset}"
            )
        }
    }

    /// The matching alerts from `offset`, at most `limit`, each at its latest row.
    async fn rows(
        &self,
        console: &Console,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Row>, PageError> {
        let range = window(Some(&self.since), Some(&self.until), DEFAULT_SINCE)?;
        let session = console.session(range).await?;
        if !self.latest_sorts_first() {
            return rows(&session, &self.sql(limit, offset)).await;
        }
        let wanted = offset.saturating_add(limit);
        // Most alerts have one row, updated ones a few: read twice what is wanted,
        // and more only when updates took up the room.
        let mut read = wanted.saturating_mul(2).max(64);
        loop {
            let found = rows(&session, &self.sql(read, 0)).await?;
            let exhausted = found.len() < read;
            let alerts = first_of_each(found);
            if alerts.len() >= wanted || exhausted || read >= EXPORT * 4 {
                return Ok(alerts.into_iter().skip(offset).take(limit).collect());
            }
            read = read.saturating_mul(4);
        }
    }
}

/// The first row of each alert, in order.
fn first_of_each(rows: Vec<Row>) -> Vec<Row> {
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .filter(|row| seen.insert(text(row, "alert_id")))
        .collect()
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
    fn each_alert_is_listed_once_at_its_first_row() {
        let row = |id: &str, count: u64| {
            let mut row = Row::new();
            row.insert("alert_id".into(), id.into());
            row.insert("count".into(), count.into());
            row
        };
        let listed = first_of_each(vec![row("a", 9), row("b", 1), row("a", 3), row("c", 2)]);
        let ids: Vec<(String, String)> = listed
            .iter()
            .map(|r| (text(r, "alert_id"), text(r, "count")))
            .collect();
        assert_eq!(
            ids,
            [
                ("a".into(), "9".into()),
                ("b".into(), "1".into()),
                ("c".into(), "2".into())
            ]
        );
    }

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
        assert!(!sql.contains("row_number"), "a top-k: {sql}");
        let rising = Filters {
            sort: "count".into(),
            dir: "asc".into(),
            ..Filters::default()
        };
        assert!(
            rising.sql(10, 0).contains("row_number"),
            "each alert's latest row first"
        );
    }
}
