//! The to-dos of grants: idle ones, ones expiring within 30 days, and ones without an
//! owner, from the canned reports over the archive and from the grants in force.

use std::collections::BTreeMap;

use super::Console;
use super::data::{PageError, Row};
use crate::query::{QuerySession, find_report, to_rows};

/// Expiring "soon" means within this many days.
pub(super) const EXPIRING_DAYS: &str = "30";

/// Each list of to-dos, as rows with `grant_id`, `partner` and `owner`.
pub(super) struct Todos {
    pub(super) idle: Vec<Row>,
    pub(super) expiring: Vec<Row>,
    pub(super) unowned: Vec<Row>,
}

impl Todos {
    /// The to-dos over the grants in force, as of the session's end.
    pub(super) async fn of(console: &Console, session: &QuerySession) -> Result<Self, PageError> {
        let idle = report(console, session, "idle_grants", &[]).await?;
        let expiring = report(
            console,
            session,
            "expiring_soon",
            &[("within_days", EXPIRING_DAYS)],
        )
        .await?;
        let unowned = console
            .grants
            .grants()
            .iter()
            .filter(|g| g.owner.is_none())
            .map(|g| {
                let mut row = Row::new();
                row.insert("grant_id".into(), g.id.clone().into());
                row.insert("partner".into(), g.partner.to_string().into());
                row.insert("purpose".into(), g.purpose.to_string().into());
                row
            })
            .collect();
        Ok(Self {
            idle,
            expiring,
            unowned,
        })
    }

    /// Only the to-dos of `grants`.
    pub(super) fn only(self, grants: &[&str]) -> Self {
        let keep = |rows: Vec<Row>| -> Vec<Row> {
            rows.into_iter()
                .filter(|r| {
                    r.get("grant_id")
                        .and_then(|v| v.as_str())
                        .is_some_and(|g| grants.contains(&g))
                })
                .collect()
        };
        Self {
            idle: keep(self.idle),
            expiring: keep(self.expiring),
            unowned: keep(self.unowned),
        }
    }
}

/// A canned report's rows (none when the report is not installed).
async fn report(
    console: &Console,
    session: &QuerySession,
    name: &str,
    params: &[(&str, &str)],
) -> Result<Vec<Row>, PageError> {
    let Ok(report) = find_report(name, &console.reports) else {
        return Ok(Vec::new());
    };
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (_, batches) = session.run(&report, &params).await?;
    Ok(to_rows(&batches)?)
}
