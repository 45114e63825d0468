//! `grantwatch rules test`: rule fixtures, case by case.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use grantwatch::fixtures;

use crate::inputs::{config_or_default, load_rules};
use crate::stdout::{plural, write_stdout};

/// Runs the fixtures; the exit code says how it went.
pub async fn test(dir: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = config_or_default(config)?;
    let mut dirs = config.rule_dirs.clone();
    dirs.extend(dir.clone());
    let rules = load_rules(&dirs)?;
    let fixtures = match &dir {
        Some(dir) => fixtures::load_dir_fixtures(std::slice::from_ref(dir))?,
        None => fixtures::overlay(
            fixtures::builtin_fixtures(),
            fixtures::load_dir_fixtures(&config.rule_dirs)?,
        ),
    };
    let results = fixtures::run_all(&rules, &fixtures, &config.alerts.grouping()).await?;
    let mut report = String::new();
    for result in &results {
        let status = if result.passed() { "ok  " } else { "FAIL" };
        report.push_str(&format!("{status} {}: {}\n", result.rule, result.case));
        for line in &result.missing {
            report.push_str(&format!("       - expected, not raised: {line}\n"));
        }
        for line in &result.unexpected {
            report.push_str(&format!("       + raised, not expected: {line}\n"));
        }
    }
    if dir.is_none() {
        for rule in fixtures::untested(&rules, &fixtures) {
            report.push_str(&format!("note: rule `{rule}` has no fixture\n"));
        }
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    report.push_str(&format!(
        "{} fixture{}, {} case{}: {} passed, {failed} failed\n",
        fixtures.len(),
        plural(fixtures.len()),
        results.len(),
        plural(results.len()),
        results.len() - failed
    ));
    write_stdout(&report)?;
    Ok(ExitCode::from(if failed > 0 { 1 } else { 0 }))
}
