//! Suppressions: known, accepted exceptions that silence matching alerts until they
//! expire. Every suppression names the rule, what it matches, why, who accepted the
//! risk, and when it ends: never silently permanent. Suppressed alerts are counted.
//!
//! ```yaml
//! - rule: out_of_purpose_action
//!   match: {grant_id: acme-payroll-payouts, action: "POST /v1/refunds/*"}
//!   reason: Refund pilot approved under CHG-1234
//!   owner: jane.doe@bank.example
//!   expires_at: 2026-12-31T00:00:00Z
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::alerts::Alert;
use crate::grants::location::{GrantLocation, ItemLocator};
use crate::grants::pattern::ActionPattern;
use crate::grants::serde_field;
use crate::time::parse_time;

/// Alert fields a suppression may match on.
const FIELDS: [&str; 5] = ["grant_id", "credential_id", "partner", "owner", "action"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressionSpec {
    rule: String,
    #[serde(rename = "match", default)]
    matches: BTreeMap<String, String>,
    reason: String,
    owner: String,
    expires_at: String,
}

/// A validated suppression.
#[derive(Debug, Clone)]
pub struct Suppression {
    /// The rule it silences.
    pub rule: String,
    /// Field → value; `action` is an action pattern, the others exact.
    matches: Vec<(String, String)>,
    action: Option<ActionPattern>,
    /// Why the exception is accepted.
    pub reason: String,
    /// Who accepted it.
    pub owner: String,
    /// Alerts whose last event is at or after this are no longer silenced.
    pub expires_at: DateTime<Utc>,
    /// Where it is written.
    pub location: GrantLocation,
}

/// One problem in a suppressions file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SuppressionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Suppression {
    /// Whether this suppression silences `alert`.
    pub fn silences(&self, alert: &Alert) -> bool {
        if alert.rule != self.rule {
            return false;
        }
        let last_seen = DateTime::parse_from_rfc3339(&alert.last_seen)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        if last_seen >= self.expires_at {
            return false;
        }
        self.matches
            .iter()
            .all(|(field, want)| match field.as_str() {
                "action" => alert
                    .action
                    .as_deref()
                    .is_some_and(|a| self.action.as_ref().is_some_and(|p| p.matches(a))),
                "grant_id" => alert.grant_id.as_deref() == Some(want),
                "credential_id" => alert.credential_id == *want,
                "partner" => alert.partner.as_deref() == Some(want),
                "owner" => alert.owner.as_deref() == Some(want),
                _ => false,
            })
    }
}

/// Loads suppression files (YAML lists); every problem is reported, none is skipped.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Suppression>, Vec<SuppressionError>> {
    let mut suppressions = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => match parse(&text, path) {
                Ok(found) => suppressions.extend(found),
                Err(found) => errors.extend(found),
            },
            Err(e) => errors.push(SuppressionError {
                file: path.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(suppressions)
    } else {
        Err(errors)
    }
}

/// Parses one suppressions document.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Suppression>, Vec<SuppressionError>> {
    let error = |line: Option<usize>, message: String| SuppressionError {
        file: file.to_owned(),
        line,
        message,
    };
    let docs: Vec<serde_yaml_ng::Value> =
        match serde_yaml_ng::from_str::<Option<Vec<serde_yaml_ng::Value>>>(text) {
            Ok(docs) => docs.unwrap_or_default(),
            Err(e) => return Err(vec![error(e.location().map(|l| l.line()), e.to_string())]),
        };
    let locator = ItemLocator::new(file, text);
    let mut suppressions = Vec::new();
    let mut errors = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let location = locator.locate(i);
        let spec = match serde_yaml_ng::from_value::<SuppressionSpec>(doc) {
            Ok(spec) => spec,
            Err(e) => {
                let message = e.to_string();
                let line = match serde_field(&message) {
                    Some(field) => location.line_of(&field),
                    None => location.line,
                };
                errors.push(error(line, message));
                continue;
            }
        };
        let mut bad = |field: &str, message: String| {
            errors.push(error(
                location.line_of(field),
                format!("field `{field}`: {message}"),
            ));
        };
        let expires_at = parse_time(&spec.expires_at)
            .map_err(|m| bad("expires_at", m))
            .ok();
        for (field, what) in [("reason", &spec.reason), ("owner", &spec.owner)] {
            if what.trim().is_empty() {
                bad(field, "must not be empty".into());
            }
        }
        for field in spec.matches.keys() {
            if !FIELDS.contains(&field.as_str()) {
                bad(
                    &format!("match.{field}"),
                    format!("cannot match on `{field}`: one of {}", FIELDS.join(", ")),
                );
            }
        }
        let action = match spec.matches.get("action").map(|a| ActionPattern::parse(a)) {
            Some(Err(e)) => {
                bad("match.action", e.to_string());
                None
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        if let Some(expires_at) = expires_at {
            suppressions.push(Suppression {
                rule: spec.rule,
                matches: spec.matches.into_iter().collect(),
                action,
                reason: spec.reason,
                owner: spec.owner,
                expires_at,
                location,
            });
        }
    }
    if errors.is_empty() {
        Ok(suppressions)
    } else {
        Err(errors)
    }
}

/// A governance finding about a valid suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Fails the check (else a warning).
    pub error: bool,
    /// Stable name of the check.
    pub check: &'static str,
    /// `file:line`.
    pub at: String,
    /// What to do.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = if self.error { "error" } else { "warning" };
        write!(f, "{}: {level}[{}] {}", self.at, self.check, self.message)
    }
}

/// Findings about valid suppressions: an unknown rule (error), a suppression of a
/// whole rule, an expired one (warnings). `rules` are the rule names in force.
pub fn lint(suppressions: &[Suppression], rules: &[&str], now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for s in suppressions {
        let at = |field: &str| match s.location.line_of(field) {
            Some(line) => format!("{}:{line}", s.location.file.display()),
            None => s.location.file.display().to_string(),
        };
        if !rules.contains(&s.rule.as_str()) {
            findings.push(Finding {
                error: true,
                check: "unknown_rule",
                at: at("rule"),
                message: format!("no rule `{}`", s.rule),
            });
        }
        if s.matches.is_empty() {
            findings.push(Finding {
                error: false,
                check: "whole_rule",
                at: at("rule"),
                message: format!("silences every `{}` alert: narrow it with `match`", s.rule),
            });
        }
        if s.expires_at <= now {
            findings.push(Finding {
                error: false,
                check: "expired",
                at: at("expires_at"),
                message: format!(
                    "expired at {}: it no longer applies, remove it",
                    s.expires_at.to_rfc3339()
                ),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
- rule: out_of_purpose_action
  match: {grant_id: acme, action: \"POST /v1/refunds/*\"}
  reason: Refund pilot CHG-1234
  owner: jane@bank.example
  expires_at: 2026-12-31T00:00:00Z
";

    fn alert(action: &str, last_seen: &str) -> Alert {
        Alert {
            action: Some(action.into()),
            first_seen: last_seen.into(),
            last_seen: last_seen.into(),
            ..Alert::example()
        }
    }

    #[test]
    fn matching_alerts_are_silenced_until_expiry() {
        let s = &parse(TEXT, Path::new("s.yaml")).expect("valid")[0];
        assert!(s.silences(&alert("POST /v1/refunds/r1", "2026-12-01T00:00:00Z")));
        assert!(!s.silences(&alert("POST /v1/payouts", "2026-12-01T00:00:00Z")));
        assert!(
            !s.silences(&alert("POST /v1/refunds/r1", "2026-12-31T00:00:00Z")),
            "expired"
        );
    }

    #[test]
    fn bad_suppressions_are_located_and_linted() {
        let errors = parse(
            &TEXT
                .replace("  expires_at: 2026-12-31T00:00:00Z\n", "")
                .replace("grant_id: acme", "colour: blue"),
            Path::new("s.yaml"),
        )
        .expect_err("invalid");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].message.contains("missing field `expires_at`"),
            "{errors:?}"
        );
        let errors = parse(
            &TEXT.replace("grant_id: acme", "colour: blue"),
            Path::new("s.yaml"),
        )
        .expect_err("invalid");
        assert_eq!(
            errors[0].to_string(),
            "s.yaml:2: field `match.colour`: cannot match on `colour`: one of grant_id, credential_id, partner, owner, action"
        );
        let valid = parse(TEXT, Path::new("s.yaml")).expect("valid");
        let now = "2027-01-01T00:00:00Z".parse().expect("now");
        let findings: Vec<String> = lint(&valid, &["other_rule"], now)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            findings,
            [
                "s.yaml:1: error[unknown_rule] no rule `out_of_purpose_action`",
                "s.yaml:5: warning[expired] expired at 2026-12-31T00:00:00+00:00: it no longer applies, remove it"
            ]
        );
    }
}
