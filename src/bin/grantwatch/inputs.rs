//! What the commands read besides their flags: the config (or its defaults), the
//! archive, times given as text, and the rules.

use std::path::{Path, PathBuf};

use anyhow::Context;
use grantwatch::archive::ArchiveLocation;
use grantwatch::config::Config;
use grantwatch::{grants, rules, time};

/// The config at `path`, or the defaults (relative to the working directory).
pub fn config_or_default(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::load(path, std::env::vars())?,
        None => Config::from_toml("", Path::new("grantwatch.toml"), std::env::vars())?,
    })
}

/// The archive `--archive` names, else the config's; `None` (with a warning) if neither.
pub fn archive_of(flag: Option<&str>, config: &Config) -> anyhow::Result<Option<ArchiveLocation>> {
    let archive = match flag {
        Some(url) => Some(ArchiveLocation::parse(url, Path::new("."))?),
        None => config.archive.as_ref().map(|a| a.location.clone()),
    };
    if archive.is_none() {
        tracing::warn!("No archive (--archive or [archive] url): its tables are empty.");
    }
    Ok(archive)
}

/// The grants of the config at `path`; none without a config (the defaults name no
/// grant file).
pub fn grants_of(path: Option<&Path>, config: &Config) -> anyhow::Result<grants::GrantSet> {
    Ok(match path {
        Some(_) => grants::load_paths(&config.grants.paths, config.grants.default_idle_after)?,
        None => grants::GrantSet::default(),
    })
}

/// RFC 3339, a date, or an age (`90d`) before now.
pub fn parse_when(text: &str, flag: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = time::parse_time(text) {
        return Ok(t);
    }
    let age = time::parse_duration(text).map_err(|_| {
        anyhow::anyhow!("{flag}: `{text}` is not a time, a date or an age like 90d")
    })?;
    Ok(chrono::Utc::now() - chrono::Duration::from_std(age).context(flag.to_owned())?)
}

pub fn load_rules(dirs: &[PathBuf]) -> anyhow::Result<Vec<rules::Rule>> {
    rules::load_rules(dirs).map_err(|errors| {
        anyhow::anyhow!(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}
