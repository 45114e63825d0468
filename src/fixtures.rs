//! `grantwatch rules test`: rules tested as data. A rule `NAME.sql` may ship
//! `NAME.test.yaml` beside it: grants, then cases of events and the alerts the rule
//! must raise on them (none, for a negative case). Each case runs the rule alone
//! through the same [`Detector`] as `run`, with the configured dedup window.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::RecordBatch;
use serde::Deserialize;

use crate::alerts::{Alert, Grouping};
use crate::decode::{ActionsBuilder, Source};
use crate::detect::Detector;
use crate::grants;
use crate::kafka::Ownership;
use crate::rules::{Rule, Schedule};
use crate::state::{AlertLedger, SharedStore};

/// A fixture file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureSpec {
    /// Grants for every case (a YAML list, as in grant files).
    #[serde(default)]
    grants: Option<serde_yaml_ng::Value>,
    cases: Vec<CaseSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: String,
    /// Replaces the file's grants for this case.
    #[serde(default)]
    grants: Option<serde_yaml_ng::Value>,
    /// Native partner actions judged first, as an earlier batch whose alerts are not
    /// compared: what the state knows before `events` (for baseline and windowed rules).
    #[serde(default)]
    history: Vec<serde_json::Value>,
    /// Native partner actions.
    #[serde(default)]
    events: Vec<serde_json::Value>,
    /// The clock scheduled rules run at (default: the newest event time).
    #[serde(default)]
    now: Option<String>,
    /// The alerts the rule must raise, and no others.
    expect: Vec<Expected>,
}

/// One expected alert; fields left out are not compared.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    grant_id: Option<String>,
    #[serde(default)]
    credential_id: Option<String>,
    #[serde(default)]
    event_ids: Option<Vec<String>>,
    #[serde(default)]
    reason_contains: Option<String>,
    /// The alert's action: its route template.
    #[serde(default)]
    action: Option<String>,
}

/// A fixture: which rule it tests and its text.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The rule name (the file is `NAME.test.yaml`).
    pub rule: String,
    /// Where it came from (`builtin/NAME.test.yaml` for the compiled-in ones).
    pub source: PathBuf,
    /// The YAML text.
    pub text: String,
}

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The rule.
    pub rule: String,
    /// The case's name.
    pub case: String,
    /// Expected alerts not raised, as readable lines.
    pub missing: Vec<String>,
    /// Alerts raised but not expected.
    pub unexpected: Vec<String>,
}

impl CaseResult {
    /// Whether the rule raised exactly the expected alerts.
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// A fixture that cannot be run: the fixture author's fault.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct FixtureError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// The compiled-in fixtures of the built-in rules.
pub fn builtin_fixtures() -> Vec<Fixture> {
    crate::rules::BUILTIN_FIXTURES
        .iter()
        .map(|(rule, text)| Fixture {
            rule: (*rule).to_owned(),
            source: PathBuf::from(format!("builtin/{rule}.test.yaml")),
            text: (*text).to_owned(),
        })
        .collect()
}

/// `base` with every fixture of `overrides` replacing the one for the same rule.
pub fn overlay(base: Vec<Fixture>, overrides: Vec<Fixture>) -> Vec<Fixture> {
    let mut fixtures: Vec<Fixture> = base
        .into_iter()
        .filter(|f| !overrides.iter().any(|o| o.rule == f.rule))
        .collect();
    fixtures.extend(overrides);
    fixtures
}

/// The fixtures in `dirs` (`*.test.yaml`), sorted by name.
pub fn load_dir_fixtures(dirs: &[PathBuf]) -> Result<Vec<Fixture>, FixtureError> {
    let mut fixtures = Vec::new();
    for dir in dirs {
        let fail = |e: std::io::Error| FixtureError {
            file: dir.clone(),
            line: None,
            message: format!("cannot list: {e}"),
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(fail)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".test.yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| FixtureError {
                file: file.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            })?;
            let rule = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".test.yaml"))
                .unwrap_or_default()
                .to_owned();
            fixtures.push(Fixture {
                rule,
                source: file,
                text,
            });
        }
    }
    Ok(fixtures)
}

/// Runs every case of `fixture` against `rule`, grouping alerts by `grouping`.
pub async fn run_fixture(
    rule: &Rule,
    fixture: &Fixture,
    grouping: &Grouping,
) -> Result<Vec<CaseResult>, FixtureError> {
    let fail = |line: Option<usize>, message: String| FixtureError {
        file: fixture.source.clone(),
        line,
        message,
    };
    let spec: FixtureSpec = serde_yaml_ng::from_str(&fixture.text)
        .map_err(|e| fail(e.location().map(|l| l.line()), e.to_string()))?;
    let mut results = Vec::new();
    for case in spec.cases {
        let grants_yaml = case
            .grants
            .as_ref()
            .or(spec.grants.as_ref())
            .map(serde_yaml_ng::to_string)
            .transpose()
            .map_err(|e| fail(None, e.to_string()))?
            .unwrap_or_default();
        let grants = grants::parse_str(
            &grants_yaml,
            &fixture.source,
            Duration::from_secs(30 * 86_400),
        )
        .map_err(|e| fail(None, format!("case `{}`: {e}", case.name)))?;
        let got = run_case(rule, grants, &case, grouping)
            .await
            .map_err(|message| fail(None, format!("case `{}`: {message}", case.name)))?;
        let mut unmatched: Vec<&Alert> = got.iter().collect();
        let mut missing = Vec::new();
        for expected in &case.expect {
            match unmatched.iter().position(|alert| matches(expected, alert)) {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => missing.push(describe_expected(expected)),
            }
        }
        results.push(CaseResult {
            rule: rule.name.clone(),
            case: case.name,
            missing,
            unexpected: unmatched.into_iter().map(describe).collect(),
        });
    }
    Ok(results)
}

/// The alerts `rule` raises for one case.
async fn run_case(
    rule: &Rule,
    grants: grants::GrantSet,
    case: &CaseSpec,
    grouping: &Grouping,
) -> Result<Vec<Alert>, String> {
    let detector = Detector::new(
        std::slice::from_ref(rule),
        Arc::new(grants),
        SharedStore::default(),
        Vec::new(),
        grouping.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    if let Some(batch) = batch_of(&case.history, "history event", 0)? {
        detector
            .judge(batch, Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        // History's alerts are not compared: the events' alerts start a clean ledger.
        detector.store().with(|s| s.alerts = AlertLedger::default());
    }
    let mut alerts = Vec::new();
    let mut newest_ms = None;
    if let Some(batch) = batch_of(&case.events, "event", case.history.len())? {
        let judgement = detector
            .judge(batch, Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        alerts = judgement.alerts;
        newest_ms = judgement.newest_ms;
    }
    if let Schedule::Every(_) = rule.schedule {
        let now_ms = match &case.now {
            Some(now) => crate::time::parse_time(now)?.timestamp_millis(),
            None => newest_ms.ok_or("a scheduled rule's case needs events or `now`")?,
        };
        let findings = detector
            .scheduled(
                std::slice::from_ref(&rule.name),
                &Ownership::everything(),
                now_ms,
            )
            .await
            .map_err(|e| e.to_string())?;
        alerts.extend(findings.alerts);
    }
    Ok(alerts)
}

/// The events as one batch (`None` when there are none); `what` names them in errors,
/// offsets start at `first_offset` (default event ids must not repeat across batches).
fn batch_of(
    events: &[serde_json::Value],
    what: &str,
    first_offset: usize,
) -> Result<Option<RecordBatch>, String> {
    if events.is_empty() {
        return Ok(None);
    }
    let mut builder = ActionsBuilder::new(1 << 20);
    for (i, event) in events.iter().enumerate() {
        let source = Source {
            topic: "fixture",
            partition: 0,
            offset: (first_offset + i) as i64,
        };
        builder
            .push_native(event.to_string().as_bytes(), source)
            .map_err(|e| format!("{what} {}: {e}", i + 1))?;
    }
    builder.finish().map(Some).map_err(|e| e.to_string())
}

/// One alert as a fixture line: `grant=… credential=… events=… reason=…`.
fn describe(alert: &Alert) -> String {
    let mut events = alert.event_ids.clone();
    events.sort();
    format!(
        "grant={} credential={} action={} events=[{}] reason={}",
        alert.grant_id.as_deref().unwrap_or("-"),
        alert.credential_id,
        alert.action.as_deref().unwrap_or("-"),
        events.join(","),
        alert.reason
    )
}

fn describe_expected(expected: &Expected) -> String {
    let mut parts = Vec::new();
    if let Some(g) = &expected.grant_id {
        parts.push(format!("grant={g}"));
    }
    if let Some(c) = &expected.credential_id {
        parts.push(format!("credential={c}"));
    }
    if let Some(a) = &expected.action {
        parts.push(format!("action={a}"));
    }
    if let Some(e) = &expected.event_ids {
        let mut e = e.clone();
        e.sort();
        parts.push(format!("events=[{}]", e.join(",")));
    }
    if let Some(r) = &expected.reason_contains {
        parts.push(format!("reason~{r}"));
    }
    parts.join(" ")
}

/// Whether an alert has every field the expectation names.
fn matches(expected: &Expected, alert: &Alert) -> bool {
    let sorted = |ids: &[String]| {
        let mut ids = ids.to_vec();
        ids.sort();
        ids
    };
    expected
        .grant_id
        .as_ref()
        .is_none_or(|g| alert.grant_id.as_ref() == Some(g))
        && expected
            .credential_id
            .as_ref()
            .is_none_or(|c| &alert.credential_id == c)
        && expected
            .event_ids
            .as_ref()
            .is_none_or(|e| sorted(e) == sorted(&alert.event_ids))
        && expected
            .reason_contains
            .as_ref()
            .is_none_or(|r| alert.reason.contains(r.as_str()))
        && expected
            .action
            .as_ref()
            .is_none_or(|a| alert.action.as_ref() == Some(a))
}

/// Every case's outcome for `fixtures`, each run against the rule of its name.
pub async fn run_all(
    rules: &[Rule],
    fixtures: &[Fixture],
    grouping: &Grouping,
) -> Result<Vec<CaseResult>, FixtureError> {
    let mut results = Vec::new();
    for fixture in fixtures {
        let rule = rules
            .iter()
            .find(|r| r.name == fixture.rule)
            .ok_or_else(|| FixtureError {
                file: fixture.source.clone(),
                line: None,
                message: format!("no rule `{}` to test", fixture.rule),
            })?;
        results.extend(run_fixture(rule, fixture, grouping).await?);
    }
    Ok(results)
}

/// The rules in `rules` without a fixture among `fixtures`.
pub fn untested<'a>(rules: &'a [Rule], fixtures: &[Fixture]) -> Vec<&'a str> {
    let tested: BTreeSet<&str> = fixtures.iter().map(|f| f.rule.as_str()).collect();
    rules
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !tested.contains(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load_rules;

    /// Every built-in rule ships a fixture with a positive and a negative case, and
    /// all of them pass.
    #[tokio::test]
    async fn every_builtin_rule_passes_its_positive_and_negative_cases() {
        let rules = load_rules(&[]).expect("rules");
        let fixtures = builtin_fixtures();
        assert_eq!(untested(&rules, &fixtures), Vec::<&str>::new());
        for fixture in &fixtures {
            let spec: FixtureSpec = serde_yaml_ng::from_str(&fixture.text).expect("yaml");
            assert!(
                spec.cases.iter().any(|c| !c.expect.is_empty())
                    && spec.cases.iter().any(|c| c.expect.is_empty()),
                "{} needs positive and negative cases",
                fixture.rule
            );
        }
        let results = run_all(&rules, &fixtures, &Grouping::default())
            .await
            .expect("fixtures run");
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.passed())
            .map(|r| {
                format!(
                    "{}: {}: missing {:?}, unexpected {:?}",
                    r.rule, r.case, r.missing, r.unexpected
                )
            })
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[tokio::test]
    async fn a_failing_case_names_what_was_missing_and_what_was_unexpected() {
        let rules = load_rules(&[]).expect("rules");
        let mut fixture = builtin_fixtures()
            .into_iter()
            .find(|f| f.rule == "amount_over_limit")
            .expect("fixture");
        fixture.text = fixture
            .text
            .replace("event_ids: [over]", "event_ids: [other]");
        let results = run_all(&rules, &[fixture], &Grouping::default())
            .await
            .expect("runs");
        let failed = &results[0];
        assert!(!failed.passed());
        assert_eq!(
            failed.missing,
            ["grant=acme-payouts credential=cli_acme events=[other]"]
        );
        assert!(
            failed.unexpected[0]
                .starts_with("grant=acme-payouts credential=cli_acme action=POST /v1/payouts events=[over] reason="),
            "{:?}",
            failed.unexpected
        );
    }
}
