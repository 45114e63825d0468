//! One rule: its metadata header and SQL, loaded from the built-in pack and the
//! configured directories (a file of the same name overrides a built-in).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::builtin::BUILTIN_RULES;
use super::error::RuleError;

/// Alert severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The spelling used in headers and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "info" => Self::Info,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }
}

/// When a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Over every batch of actions.
    PerBatch,
    /// On a timer, over grants and grant activity.
    Every(Duration),
}

/// A rule: metadata plus SQL.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name (`-- rule:`), equal to the file stem.
    pub name: String,
    /// `-- severity:`.
    pub severity: Severity,
    /// `-- summary:`.
    pub summary: String,
    /// `-- frameworks:` references.
    pub frameworks: Vec<String>,
    /// `-- group_by:` columns forming the dedup key.
    pub group_by: Vec<String>,
    /// `-- schedule:`.
    pub schedule: Schedule,
    /// The SQL text.
    pub sql: String,
    /// Where it came from (`builtin/NAME.sql` for the compiled-in pack).
    pub source: PathBuf,
}

impl Rule {
    /// Parses a rule file's text; `source` names it in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Self, RuleError> {
        let err = |line: usize, message: String| RuleError::Header {
            file: source.to_owned(),
            line,
            message,
        };
        let (mut name, mut severity, mut summary) = (None, None, None);
        let (mut frameworks, mut group_by, mut schedule) =
            (Vec::new(), Vec::new(), Schedule::PerBatch);
        for (i, line) in text.lines().enumerate() {
            let Some(comment) = line.trim().strip_prefix("--") else {
                break;
            };
            // The header is the leading run of `-- key: value` lines; prose ends it.
            let Some((key, value)) = comment.split_once(':') else {
                break;
            };
            let key = key.trim();
            if key.is_empty() || key.contains(' ') {
                break;
            }
            // A trailing `-- …` after a value is a comment, as in DESIGN's example.
            let value = value.split(" --").next().unwrap_or(value).trim();
            let list = || {
                value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            match key {
                "rule" => name = Some(value.to_owned()),
                "severity" => {
                    severity = Some(Severity::parse(value).ok_or_else(|| {
                        err(
                            i + 1,
                            format!(
                                "severity `{value}` is not one of info, low, medium, high, critical"
                            ),
                        )
                    })?)
                }
                "summary" => summary = Some(value.to_owned()),
                "frameworks" => frameworks = list(),
                "group_by" => group_by = list(),
                "schedule" => schedule = parse_schedule(value).map_err(|m| err(i + 1, m))?,
                other => return Err(err(i + 1, format!("unknown header key `{other}`"))),
            }
        }
        let name = name.ok_or_else(|| err(1, "missing `-- rule:` header".into()))?;
        let stem = source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if name != stem {
            return Err(err(
                1,
                format!("rule name `{name}` must match the file name `{stem}.sql`"),
            ));
        }
        Ok(Self {
            severity: severity.ok_or_else(|| err(1, "missing `-- severity:` header".into()))?,
            summary: summary.ok_or_else(|| err(1, "missing `-- summary:` header".into()))?,
            name,
            frameworks,
            group_by,
            schedule,
            sql: text.to_owned(),
            source: source.to_owned(),
        })
    }
}

fn parse_schedule(value: &str) -> Result<Schedule, String> {
    if value == "per_batch" {
        return Ok(Schedule::PerBatch);
    }
    value
        .strip_prefix("every ")
        .and_then(|d| humantime::parse_duration(d.trim()).ok())
        .filter(|d| !d.is_zero())
        .map(Schedule::Every)
        .ok_or_else(|| format!("schedule `{value}` is not `per_batch` or `every <duration>`"))
}

/// The built-in pack, then each directory's `*.sql` (sorted) adding rules or
/// replacing a built-in of the same name.
pub fn load_rules(dirs: &[PathBuf]) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in BUILTIN_RULES {
        match Rule::parse(text, Path::new(&format!("builtin/{file}"))) {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(e),
        }
    }
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(source) => {
                errors.push(RuleError::Dir {
                    dir: dir.clone(),
                    source,
                });
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        for file in files {
            let parsed = std::fs::read_to_string(&file)
                .map_err(|e| RuleError::Header {
                    file: file.clone(),
                    line: 1,
                    message: format!("cannot read: {e}"),
                })
                .and_then(|text| Rule::parse(&text, &file));
            match parsed {
                Ok(rule) => match rules.iter_mut().find(|r| r.name == rule.name) {
                    Some(existing) => *existing = rule,
                    None => rules.push(rule),
                },
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_design_header() {
        let text = "-- rule: out_of_purpose_action\n-- severity: high                     -- info | low\n\
            -- summary: Partner credential used\n-- frameworks: OWASP-NHI:NHI5, NIST-CSF-2.0:DE.CM-06\n\
            -- group_by: grant_id, action          -- dedup key\n-- schedule: per_batch\nSELECT 1";
        let rule = Rule::parse(text, Path::new("q/out_of_purpose_action.sql")).expect("valid");
        assert_eq!(rule.severity, Severity::High);
        assert_eq!(rule.frameworks, ["OWASP-NHI:NHI5", "NIST-CSF-2.0:DE.CM-06"]);
        assert_eq!(rule.group_by, ["grant_id", "action"]);
        assert_eq!(rule.schedule, Schedule::PerBatch);
    }

    #[test]
    fn header_errors_name_the_line() {
        let e =
            Rule::parse("-- rule: x\n-- severity: scary\n", Path::new("x.sql")).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "x.sql:2: severity `scary` is not one of info, low, medium, high, critical"
        );
        let e = Rule::parse(
            "-- rule: x\n-- severity: low\n-- summary: s\n-- shedule: every 1m\n",
            Path::new("x.sql"),
        );
        assert_eq!(
            e.expect_err("typo").to_string(),
            "x.sql:4: unknown header key `shedule`"
        );
        let e = Rule::parse(
            "-- rule: y\n-- severity: low\n-- summary: s\n",
            Path::new("x.sql"),
        );
        assert!(
            e.expect_err("name")
                .to_string()
                .contains("must match the file name")
        );
    }

    #[test]
    fn builtin_pack_parses_and_matches_the_rules_folder() {
        let rules = load_rules(&[]).expect("builtins parse");
        let mut on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/queries/rules"))
                .expect("queries/rules")
                .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
                .filter(|n| !n.ends_with(".test"))
                .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = rules.iter().map(|r| r.name.clone()).collect();
        built_in.sort();
        assert_eq!(
            built_in, on_disk,
            "every queries/rules/*.sql is compiled in"
        );
    }
}
