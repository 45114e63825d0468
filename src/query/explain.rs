//! `grantwatch explain ALERT_ID`: one alert laid out for triage from the archive and
//! the grants in force: the alert, the grants binding its credential, each scope's
//! verdict on its first evidence event, the evidence, earlier alerts of the grant,
//! and a suppression stanza ready for a pull request.
//!
//! Everything shown from the archive is text from logs: the text rendering
//! neutralises control characters, and JSON escapes them.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::QueryError;
use super::rows::{literal, rows};
use super::session::QuerySession;
use crate::grants::verdict::{Facts, ScopeVerdict, verdicts};
use crate::grants::{Grant, GrantSet};
use crate::untrusted::inert;

/// Evidence events shown, at most.
pub const MAX_EVIDENCE: usize = 20;
/// Earlier alerts of the same grant shown, at most.
const MAX_EARLIER: usize = 10;
/// How long a proposed suppression lasts.
const SUPPRESSION_DAYS: i64 = 30;

/// A grant as an analyst needs to see it.
#[derive(Debug, Serialize)]
pub struct GrantCard {
    /// Id.
    pub grant_id: String,
    /// Partner.
    pub partner: String,
    /// Named internal owner.
    pub owner: Option<String>,
    /// Declared purpose.
    pub purpose: String,
    /// Who approved it, and when.
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<String>,
    /// Start of validity.
    pub valid_from: Option<String>,
    /// End of validity.
    pub expires_at: Option<String>,
    /// Declared state.
    pub status: &'static str,
    /// Where it is written (file:line).
    pub location: String,
}

impl GrantCard {
    /// The card of `grant`.
    pub fn of(grant: &Grant) -> Self {
        let time =
            |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        Self {
            grant_id: grant.id.clone(),
            partner: grant.partner.to_string(),
            owner: grant.owner.as_deref().map(str::to_owned),
            purpose: grant.purpose.to_string(),
            approved_by: grant.approved_by.as_deref().map(str::to_owned),
            approved_at: time(grant.approved_at),
            valid_from: time(grant.valid_from),
            expires_at: time(grant.expires_at),
            status: grant.status.as_str(),
            location: match grant.location.line {
                Some(line) => format!("{}:{line}", grant.location.file.display()),
                None => grant.location.file.display().to_string(),
            },
        }
    }
}

/// What `explain` shows.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The alert as last archived (its latest count).
    pub alert: Map<String, Value>,
    /// The grants binding its credential (its own grant first).
    pub grants: Vec<GrantCard>,
    /// Each scope of those grants on the first evidence event.
    pub verdicts: Vec<ScopeVerdict>,
    /// Up to [`MAX_EVIDENCE`] of its events, as archived.
    pub evidence: Vec<Map<String, Value>>,
    /// Earlier alerts of the same grant (or credential), newest first.
    pub earlier: Vec<Map<String, Value>>,
    /// A suppression stanza for this alert, to paste into a suppressions file.
    pub suppression: String,
}

/// Explains the alert `alert_id`, judged as of `now`.
pub async fn explain(
    session: &QuerySession,
    grants: &GrantSet,
    alert_id: &str,
    now: DateTime<Utc>,
) -> Result<Explanation, QueryError> {
    let id = literal(alert_id);
    let alert = rows(
        session,
        &format!("SELECT * FROM alerts WHERE alert_id = {id} ORDER BY count DESC, detected_at DESC LIMIT 1"),
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| QueryError::UnknownAlert(alert_id.to_owned()))?;
    let text = |key: &str| alert.get(key).and_then(Value::as_str).map(str::to_owned);
    let credential = text("credential_id").unwrap_or_default();
    let grant_id = text("grant_id");

    let mut bound: Vec<&Grant> = grants
        .grants()
        .iter()
        .filter(|g| g.credentials.contains(&credential))
        .collect();
    bound.sort_by_key(|g| Some(&g.id) != grant_id.as_ref());
    if let Some(own) = grant_id.as_deref().and_then(|id| grants.get(id))
        && !bound.iter().any(|g| g.id == own.id)
    {
        bound.insert(0, own);
    }
    // A finding rolled up per owner names its grants instead.
    let rolled_up: Vec<&str> = alert
        .get("grant_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    bound.extend(rolled_up.iter().filter_map(|id| grants.get(id)));

    let event_ids: Vec<String> = alert
        .get("event_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .take(MAX_EVIDENCE)
                .map(literal)
                .collect()
        })
        .unwrap_or_default();
    let evidence = if event_ids.is_empty() {
        Vec::new()
    } else {
        // Its events lie between its first and last seen: bounding `ts` lets the
        // scan skip the row groups of other times (over 10M archived events, 30
        // instead of 210 ms), where event ids alone would read every one.
        let within = match (text("first_seen"), text("last_seen")) {
            (Some(first), Some(last)) => format!(
                " AND ts >= CAST({} AS TIMESTAMP) AND ts <= CAST({} AS TIMESTAMP)",
                literal(&first),
                literal(&last)
            ),
            _ => String::new(),
        };
        rows(
            session,
            &format!(
                "SELECT * FROM actions WHERE event_id IN ({}){within} ORDER BY ts LIMIT {MAX_EVIDENCE}",
                event_ids.join(", ")
            ),
        )
        .await?
    };
    let facts = evidence
        .first()
        .map(Facts::of_event)
        .unwrap_or_else(|| Facts {
            action: text("action").unwrap_or_default(),
            ..Facts::default()
        });
    let verdicts = bound.iter().flat_map(|g| verdicts(g, &facts)).collect();

    let about = match (&grant_id, rolled_up.is_empty()) {
        (Some(g), _) => format!("grant_id = {}", literal(g)),
        (None, true) => format!("credential_id = {}", literal(&credential)),
        (None, false) => format!(
            "owner = {}",
            literal(text("owner").as_deref().unwrap_or_default())
        ),
    };
    let earlier = rows(
        session,
        &format!(
            "SELECT alert_id, rule, severity, max(count) AS count, min(first_seen) AS first_seen, \
             max(last_seen) AS last_seen, first_value(reason) AS reason \
             FROM alerts WHERE {about} AND alert_id <> {id} \
             GROUP BY alert_id, rule, severity ORDER BY first_seen DESC LIMIT {MAX_EARLIER}"
        ),
    )
    .await?;

    Ok(Explanation {
        suppression: suppression(&alert, now),
        grants: bound.into_iter().map(GrantCard::of).collect(),
        alert,
        verdicts,
        evidence,
        earlier,
    })
}

/// A suppression of this alert's kind for the next [`SUPPRESSION_DAYS`] days: the
/// grant (or credential) and the action as a pattern, `{id}` standing for any segment.
fn suppression(alert: &Map<String, Value>, now: DateTime<Utc>) -> String {
    let text = |key: &str| alert.get(key).and_then(Value::as_str);
    let mut out = String::new();
    let _ = writeln!(out, "- rule: {}", yaml(text("rule").unwrap_or_default()));
    let mut matches = Vec::new();
    match text("grant_id") {
        Some(grant) => matches.push(format!("grant_id: {}", yaml(grant))),
        None => matches.push(format!(
            "credential_id: {}",
            yaml(text("credential_id").unwrap_or_default())
        )),
    }
    if let Some(action) = text("action") {
        matches.push(format!("action: {}", yaml(&action.replace("{id}", "*"))));
    }
    let _ = writeln!(out, "  match: {{{}}}", matches.join(", "));
    let _ = writeln!(
        out,
        "  reason: \"<why this is accepted, with the change or ticket that approves it>\""
    );
    let _ = writeln!(
        out,
        "  owner: {}",
        yaml(text("owner").unwrap_or("<who accepts the risk>"))
    );
    let _ = writeln!(
        out,
        "  expires_at: {}",
        (now + Duration::days(SUPPRESSION_DAYS)).to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    out
}

/// `text` as a YAML double-quoted scalar (JSON's escaping is valid YAML).
fn yaml(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

impl Explanation {
    /// The explanation for a person at a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let field = |key: &str| shown(&self.alert, key);
        let _ = writeln!(out, "ALERT {}", field("alert_id"));
        let _ = writeln!(
            out,
            "  {} {} · {} events · {} to {}",
            field("severity"),
            field("rule"),
            field("count"),
            field("first_seen"),
            field("last_seen")
        );
        let _ = writeln!(out, "  {}", field("reason"));
        let _ = writeln!(
            out,
            "  credential {} · action {} · grant {} · owner {}",
            field("credential_id"),
            field("action"),
            field("grant_id"),
            field("owner")
        );
        let _ = writeln!(out, "\nGRANTS BINDING THE CREDENTIAL");
        if self.grants.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for g in &self.grants {
            let _ = writeln!(
                out,
                "  {} ({}) · {} · {}",
                inert(&g.grant_id),
                g.status,
                inert(&g.partner),
                g.location
            );
            let _ = writeln!(out, "    purpose: {}", inert(&g.purpose));
            let _ = writeln!(
                out,
                "    owner: {} · approved by {} at {} · valid {} to {}",
                g.owner.as_deref().map_or_else(|| "NONE".into(), inert),
                g.approved_by.as_deref().map_or_else(|| "-".into(), inert),
                g.approved_at.as_deref().unwrap_or("-"),
                g.valid_from.as_deref().unwrap_or("-"),
                g.expires_at.as_deref().unwrap_or("-"),
            );
        }
        let _ = writeln!(out, "\nSCOPES ON THE FIRST EVENT");
        if self.verdicts.is_empty() {
            let _ = writeln!(out, "  no grant binds the credential: nothing allows it");
        }
        for v in &self.verdicts {
            let _ = writeln!(
                out,
                "  {} {} `{}`{}",
                if v.allows { "ALLOWS " } else { "refuses" },
                inert(&v.grant_id),
                inert(&v.scope),
                if v.emergency { " (emergency)" } else { "" }
            );
            for c in v.checks.iter().filter(|c| !c.ok) {
                let _ = writeln!(out, "      ✗ {}: {}", c.check, inert(&c.detail));
            }
        }
        let _ = writeln!(
            out,
            "\nEVIDENCE ({} of {})",
            self.evidence.len(),
            field("count")
        );
        for e in &self.evidence {
            let get = |key: &str| shown(e, key);
            let _ = writeln!(
                out,
                "  {} {} {} env={} actor={} ip={} id={}",
                get("ts"),
                get("credential_id"),
                get("action"),
                get("environment"),
                get("actor"),
                get("source_ip"),
                get("event_id")
            );
        }
        let _ = writeln!(out, "\nEARLIER ALERTS OF THE GRANT");
        if self.earlier.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for a in &self.earlier {
            let get = |key: &str| shown(a, key);
            let _ = writeln!(
                out,
                "  {} {} {} ×{} {}",
                get("first_seen"),
                get("severity"),
                get("rule"),
                get("count"),
                get("alert_id")
            );
        }
        let _ = writeln!(
            out,
            "\nSUPPRESSION (paste into a suppressions file, fill in the reason)"
        );
        out.push_str(&inert_lines(&self.suppression));
        out
    }
}

/// A field of an archived row for the terminal: made [`inert`], `-` when absent.
fn shown(row: &Map<String, Value>, key: &str) -> String {
    match row.get(key) {
        Some(Value::String(s)) => inert(s),
        Some(Value::Null) | None => "-".into(),
        Some(other) => inert(&other.to_string()),
    }
}

/// [`inert`] line by line, keeping the line breaks.
fn inert_lines(text: &str) -> String {
    text.lines().map(|l| inert(l) + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suppression_matches_the_route_and_expires() {
        let alert: Map<String, Value> = serde_json::from_str(
            r#"{"rule":"out_of_purpose_action","grant_id":"ledgerly-read","owner":"sam@bank.example",
                "action":"DELETE /v1/accounts/{id}","credential_id":"cli_ledgerly"}"#,
        )
        .unwrap();
        let now = "2026-12-07T00:00:00Z".parse().unwrap();
        let stanza = suppression(&alert, now);
        assert_eq!(
            stanza,
            "- rule: \"out_of_purpose_action\"\n  match: {grant_id: \"ledgerly-read\", action: \"DELETE /v1/accounts/*\"}\n  reason: \"<why this is accepted, with the change or ticket that approves it>\"\n  owner: \"sam@bank.example\"\n  expires_at: 2027-01-06T00:00:00Z\n"
        );
        let parsed: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&stanza).unwrap();
        assert_eq!(parsed.len(), 1);
    }
}
