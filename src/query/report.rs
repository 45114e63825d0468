//! A report: a SQL file whose header names it, says what question it answers and
//! declares its parameters.
//!
//! ```sql
//! -- report: out_of_purpose_top
//! -- question: Which out-of-purpose actions are most frequent, per grant?
//! -- param: top = 20        (rows per grant)
//! -- param: partner         (required: no default)
//! SELECT ... WHERE rank <= CAST($top AS BIGINT)
//! ```
//!
//! `$since` and `$until` are always bound (the `--since`/`--until` window); every other
//! `$name` must be declared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::builtin::BUILTIN_REPORTS;
use super::error::QueryError;

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportParam {
    /// `$name` in the SQL.
    pub name: String,
    /// Used when `--param` does not give it; `None` makes it required.
    pub default: Option<String>,
}

/// A report file.
#[derive(Debug, Clone)]
pub struct Report {
    /// `-- report:`, equal to the file stem.
    pub name: String,
    /// `-- question:`.
    pub question: String,
    /// `-- param:` lines.
    pub params: Vec<ReportParam>,
    /// The SQL text.
    pub sql: String,
    /// Where it came from (`builtin/NAME.sql` for the compiled-in reports).
    pub source: PathBuf,
}

impl Report {
    /// Parses a report file. A file without a header is a report named after its
    /// stem, with no declared parameters (any `--param` is bound as given).
    pub fn parse(text: &str, source: &Path) -> Result<Self, QueryError> {
        let stem = source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let header_error = |line: usize, message: String| QueryError::Header {
            file: source.to_owned(),
            line,
            message,
        };
        let mut name = None;
        let mut question = String::new();
        let mut params = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let Some(comment) = line.trim().strip_prefix("--") else {
                if line.trim().is_empty() {
                    continue;
                }
                break;
            };
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "report" => name = Some(value.to_owned()),
                "question" => question = value.to_owned(),
                "param" => {
                    // `name = default   (note)` or `name   (note)`
                    let value = value.split("  ").next().unwrap_or_default().trim();
                    let (param, default) = match value.split_once('=') {
                        Some((p, d)) => (p.trim(), Some(d.trim().to_owned())),
                        None => (value, None),
                    };
                    let valid = !param.is_empty()
                        && param.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid || ["since", "until"].contains(&param) {
                        return Err(header_error(
                            i + 1,
                            format!(
                                "`param: {value}`: expected `name` or `name = default`, not since/until"
                            ),
                        ));
                    }
                    params.push(ReportParam {
                        name: param.to_owned(),
                        default,
                    });
                }
                _ => {}
            }
        }
        let name = name.unwrap_or(stem.clone());
        if name != stem {
            return Err(header_error(
                1,
                format!("report `{name}` must be in a file named `{name}.sql`"),
            ));
        }
        Ok(Self {
            name,
            question,
            params,
            sql: text.to_owned(),
            source: source.to_owned(),
        })
    }

    /// Whether the report declares its parameters (a canned report always does).
    pub fn declares_params(&self) -> bool {
        !self.params.is_empty() || !self.question.is_empty()
    }

    /// The values of its `$names` (other than `$since`/`$until`): `params` checked
    /// against what it declares and uses, defaults filled in.
    pub fn bind(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, QueryError> {
        bind(self, params)
    }
}

/// The `$name`s a SQL text uses (outside string literals and comments).
fn placeholders(sql: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in sql.lines() {
        let code = line.split("--").next().unwrap_or_default();
        let mut in_string = false;
        for (i, c) in code.char_indices() {
            match c {
                '\'' => in_string = !in_string,
                '$' if !in_string => {
                    let name: String = code[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                        names.insert(name);
                    }
                }
                _ => {}
            }
        }
    }
    names
}

/// Checks `params` against what `report` declares and uses, filling defaults.
fn bind(
    report: &Report,
    params: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, QueryError> {
    let error = |message: String| QueryError::Param {
        report: report.name.clone(),
        message,
    };
    let mut bound = BTreeMap::new();
    if report.declares_params() {
        let declared: Vec<&str> = report.params.iter().map(|p| p.name.as_str()).collect();
        if let Some(unknown) = params.keys().find(|k| !declared.contains(&k.as_str())) {
            return Err(error(format!(
                "no parameter `{unknown}` (it takes: {})",
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            )));
        }
        for p in &report.params {
            match params.get(&p.name).or(p.default.as_ref()) {
                Some(v) => bound.insert(p.name.clone(), v.clone()),
                None => return Err(error(format!("needs --param {}=…", p.name))),
            };
        }
    } else {
        bound.extend(params.clone());
    }
    let unbound: Vec<String> = placeholders(&report.sql)
        .into_iter()
        .filter(|n| n != "since" && n != "until" && !bound.contains_key(n))
        .collect();
    if !unbound.is_empty() {
        return Err(error(format!(
            "uses {} without a value: pass --param NAME=VALUE",
            unbound
                .iter()
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(bound)
}

/// The report `name_or_file` names: a path to a `.sql` file, or a canned report.
pub fn find_report(name_or_file: &str, reports: &[Report]) -> Result<Report, QueryError> {
    let path = Path::new(name_or_file);
    if name_or_file.ends_with(".sql") || path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|source| QueryError::Read {
            path: path.to_owned(),
            source,
        })?;
        return Report::parse(&text, path);
    }
    reports
        .iter()
        .find(|r| r.name == name_or_file)
        .cloned()
        .ok_or_else(|| QueryError::UnknownReport {
            name: name_or_file.to_owned(),
            known: reports
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The built-in reports, overridden or extended by `.sql` files in `dirs`.
pub fn load_reports(dirs: &[PathBuf]) -> Result<Vec<Report>, QueryError> {
    let mut reports = Vec::new();
    for (file, text) in BUILTIN_REPORTS {
        reports.push(Report::parse(text, Path::new(&format!("builtin/{file}")))?);
    }
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(|source| QueryError::Read {
            path: dir.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| QueryError::Read {
                path: file.clone(),
                source,
            })?;
            let report = Report::parse(&text, &file)?;
            match reports.iter_mut().find(|r| r.name == report.name) {
                Some(existing) => *existing = report,
                None => reports.push(report),
            }
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_declares_name_question_and_params() {
        let text = "-- report: top\n-- question: What?\n-- param: top = 20   (rows)\n\
                    -- param: partner\nSELECT $top, $partner";
        let r = Report::parse(text, Path::new("q/top.sql")).unwrap();
        assert_eq!(r.question, "What?");
        assert_eq!(
            r.params,
            vec![
                ReportParam {
                    name: "top".into(),
                    default: Some("20".into())
                },
                ReportParam {
                    name: "partner".into(),
                    default: None
                },
            ]
        );
        let err = Report::parse("-- report: x\nSELECT 1", Path::new("q/y.sql")).unwrap_err();
        assert!(err.to_string().starts_with("q/y.sql:1:"), "{err}");
        let err = Report::parse("-- param: since\nSELECT 1", Path::new("q/y.sql")).unwrap_err();
        assert!(err.to_string().contains("q/y.sql:1:"), "{err}");
    }

    #[test]
    fn placeholders_skip_strings_and_comments() {
        let sql = "SELECT '$not', $a -- $comment\nFROM t WHERE x = $b_2 AND y = '$$' AND $1";
        let names: Vec<String> = placeholders(sql).into_iter().collect();
        assert_eq!(names, vec!["a", "b_2"]);
    }

    #[test]
    fn every_builtin_report_parses_and_answers_a_question() {
        let reports = load_reports(&[]).unwrap();
        assert_eq!(reports.len(), BUILTIN_REPORTS.len());
        for r in reports {
            assert!(!r.question.is_empty(), "{} has no question", r.name);
        }
    }
}
