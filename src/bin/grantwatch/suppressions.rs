//! `grantwatch suppressions check`: lint suppression files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use grantwatch::{suppressions, time};

use crate::inputs::{config_or_default, load_rules};
use crate::stdout::{plural, write_stdout};

/// Lints the files; the exit code says how it went.
pub fn check(
    paths: Vec<PathBuf>,
    config: Option<&Path>,
    at: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = config_or_default(config)?;
    let paths = if paths.is_empty() {
        config.alerts.suppressions.clone()
    } else {
        paths
    };
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        eprintln!("grantwatch: {}: cannot read", missing.display());
        return Ok(ExitCode::from(2));
    }
    let now = match at {
        Some(at) => time::parse_time(at).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        None => chrono::Utc::now(),
    };
    let rules = load_rules(&config.rule_dirs)?;
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    let (lines, errors) = match suppressions::load(&paths) {
        Ok(valid) => {
            let findings = suppressions::lint(&valid, &names, now);
            let errors = findings.iter().filter(|f| f.error).count();
            (findings.iter().map(ToString::to_string).collect(), errors)
        }
        Err(invalid) => {
            let lines: Vec<String> = invalid.iter().map(|e| format!("{e}")).collect();
            let n = lines.len();
            (lines, n)
        }
    };
    let mut report: String = lines.iter().map(|l| format!("{l}\n")).collect();
    report.push_str(&format!(
        "{} file{} checked: {errors} error{}\n",
        paths.len(),
        plural(paths.len()),
        plural(errors)
    ));
    write_stdout(&report)?;
    Ok(ExitCode::from(u8::from(errors > 0)))
}
