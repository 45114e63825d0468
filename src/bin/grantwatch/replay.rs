//! `grantwatch replay`: the rules over files of past events or the archive.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use grantwatch::archive::ArchiveLocation;
use grantwatch::decode::{Format, Mapping, TopicFormat, TsUnit};
use grantwatch::grants;
use grantwatch::replay::ReplayOptions;

use crate::inputs::{config_or_default, load_rules, parse_when};

/// `grantwatch replay` options.
#[derive(Args)]
pub struct ReplayArgs {
    /// Files or directories of events (JSON lines, or CloudTrail delivery files).
    #[arg(long, required_unless_present = "archive", conflicts_with = "archive")]
    pub input: Vec<PathBuf>,
    /// Replay the events archived under this URL (or directory) instead of files.
    #[arg(long)]
    pub archive: Option<String>,
    /// Also archive the replayed events and the alerts to this URL or directory.
    #[arg(long)]
    pub archive_out: Option<String>,
    /// Where to write the alerts, as JSON lines.
    #[arg(long)]
    pub alerts_out: PathBuf,
    /// Only events at or after this time (RFC 3339, a date, or an age like 90d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// The configuration file (grants, rules, format); defaults apply without one.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Grant files or directories, instead of the config's `grants.paths`.
    #[arg(long)]
    pub grants: Vec<PathBuf>,
    /// Input format, instead of the config's `kafka.format`.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Read the input with a gateway preset (envoy, kong, aws-apigateway, nginx):
    /// the mapped format with that preset's mapping.
    #[arg(long, conflicts_with = "mapping")]
    pub preset: Option<String>,
    /// A TOML file mapping the input's JSON fields to partner actions: the mapped
    /// format with this mapping.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Unit of numeric event times: s, ms, us or ns (default ms).
    #[arg(long)]
    pub ts_unit: Option<String>,
    /// Environment for events that carry none (a k8s cluster name).
    #[arg(long)]
    pub environment: Option<String>,
}

/// How the input is read: the first topic's format, changed by the flags.
fn topic_format(args: &ReplayArgs, mut format: TopicFormat) -> anyhow::Result<TopicFormat> {
    let mapping = match (&args.preset, &args.mapping) {
        (Some(name), _) => {
            Some(Mapping::preset(name).map_err(|e| anyhow::anyhow!("--preset: {e}"))?)
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                Mapping::from_toml(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            )
        }
        (None, None) => None,
    };
    match (args.format, mapping) {
        (Some(chosen), Some(_)) if chosen != Format::Mapped => {
            anyhow::bail!(
                "--preset and --mapping read the mapped format, not {}",
                chosen.name()
            )
        }
        (_, Some(mapping)) => {
            format.format = Format::Mapped;
            format.mapping = Some(Arc::new(mapping));
        }
        (Some(chosen), None) => {
            if chosen == Format::Mapped && format.mapping.is_none() {
                anyhow::bail!("--format mapped needs --mapping FILE or --preset NAME");
            }
            format.format = chosen;
        }
        (None, None) => {}
    }
    if let Some(unit) = &args.ts_unit {
        format.ts_unit = TsUnit::parse(unit).ok_or_else(|| {
            anyhow::anyhow!("--ts-unit: `{unit}` is not one of {}", TsUnit::names())
        })?;
    }
    format.environment = args.environment.clone().or(format.environment);
    Ok(format)
}

/// Replays and writes the alerts; a summary goes to standard error.
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let config = config_or_default(args.config.as_deref())?;
    let grant_paths = if args.grants.is_empty() {
        config.grants.paths.clone()
    } else {
        args.grants.clone()
    };
    let grants = grants::load_paths(&grant_paths, config.grants.default_idle_after)?;
    let rules = load_rules(&config.rule_dirs)?;
    let first_topic = config.kafka.topics.first().cloned().unwrap_or_default();
    let format = topic_format(&args, config.kafka.format_of(&first_topic))?;
    let cwd = Path::new(".");
    let options = ReplayOptions {
        inputs: args.input.clone(),
        archive_in: args
            .archive
            .as_deref()
            .map(|url| ArchiveLocation::parse(url, cwd))
            .transpose()?,
        archive_out: args
            .archive_out
            .as_deref()
            .map(|url| ArchiveLocation::parse(url, cwd))
            .transpose()?,
        format,
        since: args
            .since
            .as_deref()
            .map(|t| parse_when(t, "--since"))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| parse_when(t, "--until"))
            .transpose()?,
        batch: config.batch.max_events,
        max_message_bytes: config.kafka.max_message_bytes.max(64 << 20),
        grouping: config.alerts.grouping(),
        scope: config.scope.clone(),
        suppressions: grantwatch::suppressions::load(&config.alerts.suppressions).map_err(
            |errors| {
                anyhow::anyhow!(
                    "invalid suppressions: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            },
        )?,
    };
    let file = std::fs::File::create(&args.alerts_out)
        .with_context(|| format!("cannot write {}", args.alerts_out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let summary = grantwatch::replay::replay(&options, Arc::new(grants), &rules, &mut out).await?;
    std::io::Write::flush(&mut out)
        .with_context(|| format!("cannot write {}", args.alerts_out.display()))?;
    let rejected: usize = summary.rejected.values().sum();
    eprintln!(
        "replayed {} events from {} files ({} out of partner scope, {rejected} records rejected{}): {} alerts written to {}{}",
        summary.events,
        summary.files,
        summary.out_of_scope,
        if rejected > 0 {
            format!(": {:?}", summary.rejected)
        } else {
            String::new()
        },
        summary.alerts,
        args.alerts_out.display(),
        if summary.suppressed > 0 {
            format!(" ({} suppressed)", summary.suppressed)
        } else {
            String::new()
        }
    );
    Ok(())
}
