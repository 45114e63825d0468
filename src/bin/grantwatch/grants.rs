//! `grantwatch grants check` and `grants propose`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use grantwatch::{grants, time};

use crate::inputs::{archive_of, config_or_default};
use crate::stdout::{plural, write_stdout};

/// `grantwatch grants check` options.
#[derive(Args)]
pub struct CheckArgs {
    /// Grant files or directories (default: the config's `grants.paths`).
    pub paths: Vec<PathBuf>,
    /// The configuration file (for `grants.paths` and `grants.max_lifetime`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// `human` (one line per finding) or `json` (one document, for CI).
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    pub format: String,
    /// Judge expiry as of this time instead of now (RFC 3339 or a date).
    #[arg(long)]
    pub at: Option<String>,
}

/// `grantwatch grants propose` options.
#[derive(Args)]
pub struct ProposeArgs {
    /// The grant to narrow.
    pub grant_id: String,
    /// How far back to look: RFC 3339, a date, or an age like 90d.
    #[arg(long, default_value = "90d")]
    pub since: String,
    /// End of the window (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// The configuration file (grants and archive).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The archive to read, instead of the config's `archive.url`.
    #[arg(long)]
    pub archive: Option<String>,
}

/// Lints grants; the exit code says how it went.
pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    use grants::lint::{Level, Policy, lint};
    let config = config_or_default(args.config.as_deref())?;
    let paths = if args.paths.is_empty() {
        config.grants.paths.clone()
    } else {
        args.paths
    };
    let now = match &args.at {
        Some(at) => time::parse_time(at).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        None => chrono::Utc::now(),
    };
    let loaded = grants::load_all(&paths, config.grants.default_idle_after);
    let unreadable = loaded.errors.iter().any(|e| {
        matches!(
            e.kind,
            grants::GrantErrorKind::Unreadable | grants::GrantErrorKind::Syntax
        )
    });
    let policy = Policy {
        max_lifetime: config.grants.max_lifetime,
        now,
    };
    let findings = lint(&loaded, &policy);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Level::Error)
        .count();
    let warnings = findings.len() - errors;
    let report = if args.format == "json" {
        let report = serde_json::json!({
            "grants": loaded.grants.len(),
            "errors": errors,
            "warnings": warnings,
            "findings": findings,
        });
        format!("{report:#}\n")
    } else {
        let mut text: String = findings.iter().map(|f| format!("{f}\n")).collect();
        text.push_str(&format!(
            "{} grant{} checked: {errors} error{}, {warnings} warning{}\n",
            loaded.grants.len(),
            plural(loaded.grants.len()),
            plural(errors),
            plural(warnings)
        ));
        text
    };
    write_stdout(&report)?;
    Ok(ExitCode::from(if unreadable {
        2
    } else if errors > 0 {
        1
    } else {
        0
    }))
}

/// Prints a least-privilege version of a grant.
pub async fn propose(args: ProposeArgs) -> anyhow::Result<()> {
    use grantwatch::query::{self, QuerySession, TimeRange};
    let config = config_or_default(args.config.as_deref())?;
    let archive = archive_of(args.archive.as_deref(), &config)?;
    let grants = grants::load_paths(&config.grants.paths, config.grants.default_idle_after)?;
    let grant = grants
        .get(&args.grant_id)
        .with_context(|| format!("no grant `{}` in {:?}", args.grant_id, config.grants.paths))?;
    let range = TimeRange::parse(Some(&args.since), args.until.as_deref(), chrono::Utc::now())
        .map_err(anyhow::Error::msg)?;
    let session = QuerySession::open(archive.as_ref(), &grants, range).await?;
    write_stdout(&query::propose(&session, grant, range).await?)?;
    Ok(())
}
