//! `grantwatch query`: a canned report or a SQL file over the archive and the grants.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::inputs::{archive_of, config_or_default, grants_of};
use crate::stdout::{plural, write_stdout};

/// `grantwatch query` options.
#[derive(Args)]
pub struct QueryArgs {
    /// A canned report's name (see `queries/reports/`) or a path to a .sql file.
    pub report: String,
    /// A report parameter, `name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Start of the window: RFC 3339, a date, or an age like 90d (default: all history).
    #[arg(long)]
    pub since: Option<String>,
    /// End of the window, exclusive; also what `now()` answers (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// `table`, `csv` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    pub format: String,
    /// The configuration file (archive URL, grants, report dirs).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The archive to read, instead of the config's `archive.url`.
    #[arg(long)]
    pub archive: Option<String>,
}

/// Runs the report and prints its rows.
pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    use grantwatch::query::{self, OutputFormat, QuerySession, TimeRange};
    let config = config_or_default(args.config.as_deref())?;
    let archive = archive_of(args.archive.as_deref(), &config)?;
    let grants = grants_of(args.config.as_deref(), &config)?;
    let range = TimeRange::parse(
        args.since.as_deref(),
        args.until.as_deref(),
        chrono::Utc::now(),
    )
    .map_err(anyhow::Error::msg)?;
    let mut params = std::collections::BTreeMap::new();
    for param in &args.params {
        let (k, v) = param
            .split_once('=')
            .with_context(|| format!("--param `{param}`: expected NAME=VALUE"))?;
        params.insert(k.trim().to_owned(), v.to_owned());
    }
    let reports = query::load_reports(&config.report_dirs)?;
    let report = query::find_report(&args.report, &reports)?;
    let session = QuerySession::open(archive.as_ref(), &grants, range).await?;
    let started = std::time::Instant::now();
    let (schema, batches) = session.run(&report, &params).await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    // On stderr, like a SQL shell's timer: planning and execution, not start-up.
    eprintln!(
        "{} row{} in {:.3} s",
        rows,
        plural(rows),
        started.elapsed().as_secs_f64()
    );
    let format = OutputFormat::parse(&args.format).context("unknown --format")?;
    let mut out = Vec::new();
    query::write_batches(&mut out, schema, &batches, format)?;
    write_stdout(&String::from_utf8_lossy(&out))?;
    Ok(())
}
