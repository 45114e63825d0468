//! `grantwatch archive compact`: merges the archive's small files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use grantwatch::archive::{self, CompactSettings};
use grantwatch::time;

use crate::inputs::{archive_of, config_or_default};
use crate::stdout::{plural, write_stdout};

/// `grantwatch archive compact` options.
#[derive(Args)]
pub struct CompactArgs {
    /// Leave files put less than this long ago (a duration like 1h or 1d).
    #[arg(long, default_value = "1h")]
    pub older_than: String,
    /// Leave files of at least this many MiB, and cut merged files at about it.
    #[arg(long, default_value_t = 128)]
    pub target_mib: u64,
    /// The configuration file (for `archive.url`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The archive to compact, instead of the config's `archive.url`.
    #[arg(long)]
    pub archive: Option<String>,
}

/// Compacts every partition of every table and prints what it did: exit 0, or 1 when
/// a partition was left alone for a file that cannot be merged (named on stderr).
pub async fn compact(args: CompactArgs) -> anyhow::Result<ExitCode> {
    let config = config_or_default(args.config.as_deref())?;
    let Some(location) = archive_of(args.archive.as_deref(), &config)? else {
        anyhow::bail!("no archive to compact: pass --archive or set [archive] url");
    };
    let older_than = time::parse_duration(&args.older_than)
        .map_err(|e| anyhow::anyhow!("--older-than `{}`: {e}", args.older_than))?;
    if args.target_mib == 0 {
        anyhow::bail!("--target-mib must be positive");
    }
    let settings = CompactSettings {
        older_than,
        target_bytes: args.target_mib << 20,
    };
    let done = archive::compact(&location, settings, chrono::Utc::now()).await?;
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let mut text = format!(
        "{} partition{} compacted: {} file{} ({:.1} MiB) into {} ({:.1} MiB), {} row{}\n",
        done.partitions,
        plural(done.partitions),
        done.files_in,
        plural(done.files_in),
        mib(done.bytes_in),
        done.files_out,
        mib(done.bytes_out),
        done.rows,
        plural(done.rows),
    );
    if done.leftovers > 0 {
        text.push_str(&format!(
            "{} file{} an earlier interrupted run had merged deleted\n",
            done.leftovers,
            plural(done.leftovers)
        ));
    }
    write_stdout(&text)?;
    for refused in &done.refused {
        eprintln!("grantwatch: partition left as it was: {refused}");
    }
    Ok(if done.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
