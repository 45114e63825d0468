//! `grantwatch grants propose`: a least-privilege version of one grant, in the same
//! YAML schema, keeping only the scopes, environments, data classes, currencies and
//! delegates its credentials actually used in a window. Every removal is a comment,
//! so the proposal reads as a pull request a grant owner can review.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int32Type};

use super::error::QueryError;
use super::report::Report;
use super::session::{QuerySession, TimeRange};
use crate::grants::{Grant, Scope};

/// Actions of the grant's credentials that some scope of the grant allows, with the
/// scope that allows them (an action under two scopes counts for both).
const MATCHED: &str = "\
WITH mine AS (
    SELECT a.* FROM actions a
    JOIN grant_credentials gc ON gc.credential_id = a.credential_id
    WHERE gc.grant_id = $grant
)
SELECT s.scope_index, m.environment, m.actor, m.data_classes, m.currency, m.amount
FROM mine m
JOIN grant_scopes s ON s.grant_id = $grant AND NOT s.is_emergency
WHERE action_matches(s.action, m.action)";

/// What a grant's in-purpose actions used, per scope and overall.
#[derive(Debug, Default)]
struct Used {
    actions: HashMap<usize, u64>,
    data_classes: HashMap<usize, BTreeSet<String>>,
    currencies: HashMap<usize, BTreeSet<String>>,
    max_amount: HashMap<usize, f64>,
    environments: BTreeSet<String>,
    actors: BTreeSet<String>,
}

impl Used {
    fn add(&mut self, batch: &RecordBatch) {
        let scope = batch.column(0).as_primitive::<Int32Type>();
        let env = batch.column(1).as_string::<i32>();
        let actor = batch.column(2).as_string::<i32>();
        let classes = batch.column(3).as_list::<i32>();
        let currency = batch.column(4).as_string::<i32>();
        let amount = batch.column(5).as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            let i = usize::try_from(scope.value(row)).unwrap_or(usize::MAX);
            *self.actions.entry(i).or_default() += 1;
            if env.is_valid(row) {
                self.environments.insert(env.value(row).to_owned());
            }
            if actor.is_valid(row) {
                self.actors.insert(actor.value(row).to_owned());
            }
            if classes.is_valid(row) {
                let values = classes.value(row);
                let values = values.as_string::<i32>();
                let set = self.data_classes.entry(i).or_default();
                set.extend(values.iter().flatten().map(str::to_owned));
            }
            if currency.is_valid(row) {
                self.currencies
                    .entry(i)
                    .or_default()
                    .insert(currency.value(row).to_owned());
            }
            if amount.is_valid(row) {
                let max = self.max_amount.entry(i).or_insert(f64::MIN);
                *max = max.max(amount.value(row));
            }
        }
    }
}

/// The proposal for `grant` from its use in the session's window.
pub async fn propose(
    session: &QuerySession,
    grant: &Grant,
    range: TimeRange,
) -> Result<String, QueryError> {
    let report = Report::parse(
        &format!("-- question: scope use for propose\n-- param: grant\n{MATCHED}"),
        Path::new("propose.sql"),
    )?;
    let params = BTreeMap::from([("grant".to_owned(), grant.id.clone())]);
    let (_, batches) = session.run(&report, &params).await?;
    let mut used = Used::default();
    for batch in &batches {
        used.add(batch);
    }
    Ok(render(grant, &used, range))
}

/// A YAML scalar, quoted only when YAML needs it.
fn scalar(text: &str) -> String {
    serde_yaml_ng::to_string(text)
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| format!("{text:?}"))
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| scalar(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Keeps the `declared` items that were `used`; says what it dropped. An empty
/// declaration means "any": then the proposal lists what was used.
fn narrow(
    out: &mut String,
    indent: &str,
    key: &str,
    declared: Option<&[String]>,
    used: &BTreeSet<String>,
) {
    match declared {
        Some(declared) if !declared.is_empty() => {
            let kept: Vec<String> = declared
                .iter()
                .filter(|d| used.contains(*d))
                .cloned()
                .collect();
            for dropped in declared.iter().filter(|d| !used.contains(*d)) {
                let _ = writeln!(
                    out,
                    "{indent}# removed from {key}: {} (not used in the window)",
                    scalar(dropped)
                );
            }
            if kept.is_empty() {
                // An empty list would mean "any": keep the narrowest declared one instead.
                let _ = writeln!(out, "{indent}# none used: kept the first to stay narrow");
                let _ = writeln!(out, "{indent}{key}: {}", list(&declared[..1]));
            } else {
                let _ = writeln!(out, "{indent}{key}: {}", list(&kept));
            }
        }
        _ if !used.is_empty() => {
            let used: Vec<String> = used.iter().cloned().collect();
            let _ = writeln!(
                out,
                "{indent}# was unrestricted (any); narrowed to what was used"
            );
            let _ = writeln!(out, "{indent}{key}: {}", list(&used));
        }
        _ => {}
    }
}

fn scope_lines(out: &mut String, i: usize, scope: &Scope, used: &Used) {
    let _ = writeln!(out, "  - action: {}", scalar(scope.action.as_str()));
    let none = BTreeSet::new();
    narrow(
        out,
        "    ",
        "data_classes",
        scope.data_classes.as_deref(),
        used.data_classes.get(&i).unwrap_or(&none),
    );
    if let Some(max) = scope.max_amount {
        if let Some(seen) = used.max_amount.get(&i) {
            let _ = writeln!(out, "    # largest amount used in the window: {seen}");
        }
        let _ = writeln!(out, "    max_amount: {max}");
    }
    narrow(
        out,
        "    ",
        "currencies",
        scope.currencies.as_deref(),
        used.currencies.get(&i).unwrap_or(&none),
    );
}

fn render(grant: &Grant, used: &Used, range: TimeRange) -> String {
    let mut out = String::new();
    let total: u64 = used.actions.values().sum();
    let _ = writeln!(
        out,
        "# Least-privilege proposal for `{}` from {} in-purpose actions, {} to {}.",
        grant.id,
        total,
        time(range.since),
        time(range.until)
    );
    let _ = writeln!(
        out,
        "# Generated by `grantwatch grants propose`; review before merging."
    );
    if let Some(location) = grant.location.file.to_str() {
        let _ = writeln!(out, "# Replaces the grant in {location}.");
    }
    let _ = writeln!(out, "- id: {}", scalar(&grant.id));
    let _ = writeln!(out, "  partner: {}", scalar(&grant.partner));
    if let Some(owner) = &grant.owner {
        let _ = writeln!(out, "  owner: {}", scalar(owner));
    }
    if let Some(by) = &grant.approved_by {
        let _ = writeln!(out, "  approved_by: {}", scalar(by));
    }
    if let Some(at) = grant.approved_at {
        let _ = writeln!(out, "  approved_at: {}", time(at));
    }
    let _ = writeln!(out, "  purpose: {}", scalar(&grant.purpose));
    let _ = writeln!(out, "  credentials: {}", list(&grant.credentials));
    if let Some(t) = grant.valid_from {
        let _ = writeln!(out, "  valid_from: {}", time(t));
    }
    if let Some(t) = grant.expires_at {
        let _ = writeln!(out, "  expires_at: {}", time(t));
    }
    let _ = writeln!(
        out,
        "  idle_after: {}",
        humantime::format_duration(grant.idle_after)
    );
    narrow(
        &mut out,
        "  ",
        "environments",
        Some(&grant.environments),
        &used.environments,
    );
    let delegates_used: BTreeSet<String> = used
        .actors
        .iter()
        .filter(|a| a.as_str() != &*grant.partner)
        .cloned()
        .collect();
    if !grant.delegates.is_empty() {
        let kept: Vec<String> = grant
            .delegates
            .iter()
            .filter(|d| delegates_used.contains(*d))
            .cloned()
            .collect();
        for dropped in grant
            .delegates
            .iter()
            .filter(|d| !delegates_used.contains(*d))
        {
            let _ = writeln!(
                out,
                "  # removed from delegates: {} (did not act in the window)",
                scalar(dropped)
            );
        }
        if !kept.is_empty() {
            let _ = writeln!(out, "  delegates: {}", list(&kept));
        }
    }
    if total == 0 {
        let _ = writeln!(
            out,
            "  # no in-purpose action in the window: revoke (was {})",
            grant.status.as_str()
        );
        let _ = writeln!(out, "  status: revoked");
    } else {
        let _ = writeln!(out, "  status: {}", grant.status.as_str());
    }
    if let Some(limit) = &grant.rate_limit {
        let _ = writeln!(out, "  rate_limit: {limit}");
    }
    if let Some(max) = grant.max_daily_amount {
        let _ = writeln!(out, "  max_daily_amount: {max}");
    }
    if let Some(open) = grant.decide_fail_open {
        let _ = writeln!(
            out,
            "  decide_fail: {}",
            if open { "open" } else { "closed" }
        );
    }
    let _ = writeln!(out, "  scopes:");
    for (i, scope) in grant.scopes.iter().enumerate() {
        let kept = used.actions.get(&i).copied().unwrap_or(0) > 0 || total == 0;
        if kept {
            scope_lines(&mut out, i, scope, used);
        } else {
            let _ = writeln!(
                out,
                "    # removed scope: {} (no action in the window)",
                scalar(scope.action.as_str())
            );
        }
    }
    if let Some(e) = &grant.emergency {
        let over = e.until.is_some_and(|until| until < range.until);
        if over {
            let _ = writeln!(
                out,
                "  # removed emergency: window ended {} ({})",
                e.until.map(time).unwrap_or_default(),
                e.reason.as_deref().unwrap_or("no reason given")
            );
        } else {
            let _ = writeln!(out, "  emergency:");
            if let Some(t) = e.from {
                let _ = writeln!(out, "    from: {}", time(t));
            }
            if let Some(t) = e.until {
                let _ = writeln!(out, "    until: {}", time(t));
            }
            if let Some(r) = &e.reason {
                let _ = writeln!(out, "    reason: {}", scalar(r));
            }
            if let Some(by) = &e.approved_by {
                let _ = writeln!(out, "    approved_by: {}", scalar(by));
            }
            let _ = writeln!(out, "    scopes:");
            for s in &e.scopes {
                let _ = writeln!(out, "      - action: {}", scalar(s.action.as_str()));
                if let Some(classes) = &s.data_classes {
                    let _ = writeln!(out, "        data_classes: {}", list(classes));
                }
                if let Some(max) = s.max_amount {
                    let _ = writeln!(out, "        max_amount: {max}");
                }
                if let Some(currencies) = &s.currencies {
                    let _ = writeln!(out, "        currencies: {}", list(currencies));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_logs_stay_quoted_text_in_the_proposal() {
        let hostile = "prod\u{1b}[2J\u{1b}[31mALL CLEAR\n# approved";
        let shown = list(&[hostile.to_owned()]);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\n'),
            "{shown:?}"
        );
        let back: Vec<String> = serde_yaml_ng::from_str(&shown).expect("yaml");
        assert_eq!(back, [hostile]);
    }
}
