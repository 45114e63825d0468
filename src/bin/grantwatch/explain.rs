//! `grantwatch explain ALERT_ID`: one alert with its evidence, for triage.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use grantwatch::grants;
use grantwatch::query::{self, QuerySession, TimeRange};

use crate::inputs::{archive_of, config_or_default};
use crate::stdout::write_stdout;

/// `grantwatch explain` options.
#[derive(Args)]
pub struct ExplainArgs {
    /// The alert's id (`alert_id`).
    pub alert_id: String,
    /// The configuration file (grants and archive).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The archive to read, instead of the config's `archive.url`.
    #[arg(long)]
    pub archive: Option<String>,
    /// `text` (for reading) or `json` (one document).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

/// Prints the explanation.
pub async fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let config = config_or_default(args.config.as_deref())?;
    let archive = archive_of(args.archive.as_deref(), &config)?.context(
        "explain reads the alert and its events from the archive: give --archive or [archive] url",
    )?;
    let grants = grants::load_paths(&config.grants.paths, config.grants.default_idle_after)?;
    let now = chrono::Utc::now();
    let range = TimeRange::parse(None, None, now).map_err(anyhow::Error::msg)?;
    let session = QuerySession::open(Some(&archive), &grants, range).await?;
    let explanation = query::explain(&session, &grants, &args.alert_id, now).await?;
    let text = if args.format == "json" {
        format!("{:#}\n", serde_json::to_value(&explanation)?)
    } else {
        explanation.to_text()
    };
    write_stdout(&text)
}
