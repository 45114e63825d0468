//! `grants check`: the governance findings of DESIGN §5, each with a severity, a
//! location and the OWASP NHI / NIST CSF 2.0 clause it serves. Lint never changes
//! what `run` accepts: an expired or ownerless grant is exactly what rules must see.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::{GrantError, GrantErrorKind};
use super::load::Loaded;
use super::model::{Grant, Scope, Status};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth a look; does not fail the check.
    Warning,
    /// Fails the check (exit 1).
    Error,
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Level,
    /// Stable name of the check (`missing_owner`, `credential_reuse`, ...).
    pub check: &'static str,
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The grant, when known.
    pub grant_id: Option<String>,
    /// The field at fault, when known.
    pub field: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
    /// Framework references.
    pub references: &'static [&'static str],
}

/// The lint policy: `grants.max_lifetime` and the time "now" is judged at.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Longest allowed lifetime (valid_from, else approved_at, else now → expires_at).
    pub max_lifetime: Duration,
    /// The time the check runs at.
    pub now: DateTime<Utc>,
}

/// Break-glass windows longer than this are findings (DESIGN §5).
const MAX_EMERGENCY: Duration = Duration::from_secs(72 * 3600);

const OWNER: &[&str] = &["OWASP-NHI:NHI1", "NIST-CSF-2.0:GV.RR-02"];
const LIFETIME: &[&str] = &["OWASP-NHI:NHI7", "NIST-CSF-2.0:PR.AA-01"];
const OFFBOARDING: &[&str] = &["OWASP-NHI:NHI1", "NIST-CSF-2.0:PR.AA-05"];
const PRIVILEGE: &[&str] = &["OWASP-NHI:NHI5", "NIST-CSF-2.0:PR.AA-05"];
const REUSE: &[&str] = &["OWASP-NHI:NHI9", "NIST-CSF-2.0:PR.AA-01"];
const APPROVAL: &[&str] = &["OWASP-NHI:NHI3", "NIST-CSF-2.0:GV.SC-07"];
const CONTRACT: &[&str] = &["NIST-CSF-2.0:PR.AA-05"];

/// Every finding for a loaded grant set: its load errors, then per-grant checks,
/// then checks across grants. Sorted by file and line.
pub fn lint(loaded: &Loaded, policy: &Policy) -> Vec<Finding> {
    let mut findings: Vec<Finding> = loaded.errors.iter().map(from_load_error).collect();
    for grant in &loaded.grants {
        check_grant(grant, policy, &mut findings);
    }
    check_reuse(&loaded.grants, &mut findings);
    findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    findings
}

fn from_load_error(error: &GrantError) -> Finding {
    const DATES: [&str; 5] = [
        "approved_at",
        "valid_from",
        "expires_at",
        "emergency.from",
        "emergency.until",
    ];
    let check = match error.kind {
        GrantErrorKind::Unreadable => "unreadable",
        GrantErrorKind::Syntax => "yaml_syntax",
        GrantErrorKind::Duplicate => "duplicate_id",
        GrantErrorKind::Schema if error.message.starts_with("unknown field") => "unknown_key",
        GrantErrorKind::Schema if error.field.as_deref().is_some_and(|f| DATES.contains(&f)) => {
            "unparseable_date"
        }
        GrantErrorKind::Schema => "schema",
    };
    Finding {
        severity: Level::Error,
        check,
        file: error.file.clone(),
        line: error.line,
        grant_id: error.grant_id.clone(),
        field: error.field.clone(),
        message: error.message.clone(),
        references: match error.kind {
            GrantErrorKind::Unreadable | GrantErrorKind::Syntax => &[],
            GrantErrorKind::Schema | GrantErrorKind::Duplicate => CONTRACT,
        },
    }
}

/// Collects one grant's findings, located at the field's line.
struct GrantFindings<'a> {
    grant: &'a Grant,
    out: &'a mut Vec<Finding>,
}

impl GrantFindings<'_> {
    fn push(
        &mut self,
        severity: Level,
        check: &'static str,
        field: &str,
        message: String,
        references: &'static [&'static str],
    ) {
        self.out.push(Finding {
            severity,
            check,
            file: self.grant.location.file.to_path_buf(),
            line: self.grant.location.line_of(field),
            grant_id: Some(self.grant.id.clone()),
            field: Some(field.to_owned()),
            message,
            references,
        });
    }
}

impl GrantFindings<'_> {
    /// Scopes under `prefix` that allow every action.
    fn wildcards(&mut self, prefix: &str, scopes: &[Scope]) {
        for (i, scope) in scopes.iter().enumerate() {
            if scope.action.is_wildcard_everything() {
                self.push(
                    Level::Error,
                    "wildcard_scope",
                    &format!("{prefix}[{i}].action"),
                    format!(
                        "scope `{}` allows every action: no purpose can be checked against it",
                        scope.action.as_str()
                    ),
                    PRIVILEGE,
                );
            }
        }
    }
}

fn days(d: chrono::Duration) -> String {
    format!("{:.1} days", d.num_seconds() as f64 / 86_400.0)
}

fn check_grant(grant: &Grant, policy: &Policy, out: &mut Vec<Finding>) {
    let mut f = GrantFindings { grant, out };
    let now = policy.now;
    if grant.owner.is_none() {
        f.push(
            Level::Error,
            "missing_owner",
            "owner",
            "no named internal owner: nobody is accountable for this access".into(),
            OWNER,
        );
    }
    if grant.approved_by.is_none() {
        f.push(
            Level::Warning,
            "missing_approval",
            "approved_by",
            "no approved_by: record who approved this third-party access".into(),
            APPROVAL,
        );
    }
    let start = grant.valid_from.or(grant.approved_at).unwrap_or(now);
    match grant.expires_at {
        None => f.push(
            Level::Error,
            "missing_expiry",
            "expires_at",
            "no expires_at: partner access must end on a date".into(),
            LIFETIME,
        ),
        Some(expires_at) => {
            let lifetime = expires_at - start;
            let max =
                chrono::Duration::from_std(policy.max_lifetime).unwrap_or(chrono::Duration::MAX);
            if lifetime > max {
                f.push(
                    Level::Error,
                    "lifetime_too_long",
                    "expires_at",
                    format!(
                        "lifetime {} exceeds grants.max_lifetime ({})",
                        days(lifetime),
                        days(max)
                    ),
                    LIFETIME,
                );
            }
            if grant.valid_from.is_some_and(|from| from >= expires_at) {
                f.push(
                    Level::Error,
                    "empty_validity",
                    "valid_from",
                    "valid_from is not before expires_at: the grant is never valid".into(),
                    CONTRACT,
                );
            }
            if grant.status == Status::Active && expires_at <= now {
                f.push(
                    Level::Error,
                    "expired_but_active",
                    "expires_at",
                    format!(
                        "expired at {} but still `active`: revoke it or renew it with a new approval",
                        expires_at.to_rfc3339()
                    ),
                    OFFBOARDING,
                );
            }
        }
    }
    f.wildcards("scopes", &grant.scopes);
    if let Some(emergency) = &grant.emergency {
        for (field, missing) in [
            ("emergency.from", emergency.from.is_none()),
            ("emergency.until", emergency.until.is_none()),
            ("emergency.approved_by", emergency.approved_by.is_none()),
        ] {
            if missing {
                f.push(
                    Level::Error,
                    "emergency_incomplete",
                    field,
                    format!(
                        "break-glass access without `{}`",
                        &field["emergency.".len()..]
                    ),
                    PRIVILEGE,
                );
            }
        }
        if emergency.reason.is_none() {
            f.push(
                Level::Warning,
                "emergency_incomplete",
                "emergency.reason",
                "break-glass access without a reason (an incident reference)".into(),
                PRIVILEGE,
            );
        }
        if let (Some(from), Some(until)) = (emergency.from, emergency.until) {
            let max = chrono::Duration::from_std(MAX_EMERGENCY).unwrap_or(chrono::Duration::MAX);
            if until - from > max {
                f.push(
                    Level::Error,
                    "emergency_too_long",
                    "emergency.until",
                    format!("break-glass window of {} exceeds 72 h", days(until - from)),
                    PRIVILEGE,
                );
            }
        }
        f.wildcards("emergency.scopes", &emergency.scopes);
    }
}

/// A credential bound by two active grants serves two purposes at once (NHI9): its
/// actions can no longer be attributed to one contract.
fn check_reuse(grants: &[Grant], out: &mut Vec<Finding>) {
    let mut bound: BTreeMap<&str, Vec<&Grant>> = BTreeMap::new();
    for grant in grants.iter().filter(|g| g.status == Status::Active) {
        for credential in &grant.credentials {
            bound.entry(credential).or_default().push(grant);
        }
    }
    for (credential, grants) in bound {
        let Some((first, others)) = grants.split_first() else {
            continue;
        };
        for grant in others {
            GrantFindings { grant, out }.push(
                Level::Error,
                "credential_reuse",
                "credentials",
                format!(
                    "credential `{credential}` is also bound by active grant `{}`: one credential per purpose",
                    first.id
                ),
                REUSE,
            );
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        let severity = match self.severity {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(f, ": {severity}[{}]", self.check)?;
        if let Some(id) = &self.grant_id {
            write!(f, " grant `{id}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, " field `{field}`")?;
        }
        write!(f, ": {}", self.message)?;
        if !self.references.is_empty() {
            write!(f, " ({})", self.references.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::grants::load_all;

    const DAY: Duration = Duration::from_secs(86_400);

    fn lint_text(text: &str) -> Vec<Finding> {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("g.yaml");
        std::fs::write(&file, text).expect("write");
        let loaded = load_all(&[file], DAY);
        let policy = Policy {
            max_lifetime: 365 * DAY,
            now: "2026-12-01T00:00:00Z".parse().expect("now"),
        };
        lint(&loaded, &policy)
    }

    fn checks(findings: &[Finding]) -> Vec<(&'static str, Option<usize>)> {
        findings.iter().map(|f| (f.check, f.line)).collect()
    }

    const CLEAN: &str = "\
- id: clean
  partner: p
  owner: o@bank.example
  approved_by: board
  purpose: x
  credentials: [c1]
  valid_from: 2026-09-01T00:00:00Z
  expires_at: 2027-03-01T00:00:00Z
  scopes:
    - action: \"GET /v1/x\"
";

    #[test]
    fn a_clean_grant_has_no_findings() {
        assert_eq!(lint_text(CLEAN), []);
    }

    #[test]
    fn every_design_finding_is_located() {
        let text = "\
- id: bad
  partner: p
  purpose: x
  credentials: [c1]
  valid_from: 2025-01-01T00:00:00Z
  expires_at: 2026-11-01T00:00:00Z
  scopes:
    - action: \"GET /v1/x\"
    - action: \"**\"
  emergency:
    from: 2026-11-01T00:00:00Z
    until: 2026-11-10T00:00:00Z
    reason: INC-1
- id: noexpiry
  partner: p
  owner: o
  approved_by: b
  purpose: y
  credentials: [c1]
  scopes: [{action: \"GET /y\"}]
- id: noexpiry
  partner: p
  owner: o
  approved_by: b
  purpose: y
  credentials: [c2]
  scopes: [{action: \"GET /y\"}]
  colour: blue
";
        let findings = lint_text(text);
        assert_eq!(
            checks(&findings),
            [
                ("missing_owner", Some(1)),
                ("missing_approval", Some(1)),
                ("lifetime_too_long", Some(6)),
                ("expired_but_active", Some(6)),
                ("wildcard_scope", Some(9)),
                ("emergency_incomplete", Some(10)),
                ("emergency_too_long", Some(12)),
                ("missing_expiry", Some(14)),
                ("credential_reuse", Some(19)),
                ("unknown_key", Some(28)),
            ],
            "{findings:#?}"
        );
        let text = findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains(": error[credential_reuse] grant `noexpiry` field `credentials`: credential `c1` is also bound by active grant `bad`")
                && text.contains("(OWASP-NHI:NHI9, NIST-CSF-2.0:PR.AA-01)"),
            "{text}"
        );
    }

    #[test]
    fn duplicates_and_bad_dates_are_findings_not_crashes() {
        let text = format!("{CLEAN}{}", CLEAN.replace("2027-03-01T00:00:00Z", "soon"));
        let findings = lint_text(&text);
        assert_eq!(checks(&findings), [("unparseable_date", Some(18))]);
        let findings = lint_text(&format!("{CLEAN}{CLEAN}"));
        assert_eq!(checks(&findings), [("duplicate_id", Some(11))]);
        assert!(findings[0].message.contains("g.yaml:1"), "{findings:?}");
        assert!(Path::new(&findings[0].file).ends_with("g.yaml"));
    }
}
