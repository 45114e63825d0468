//! `grantwatch console`: the review console over the archive and the grants.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use grantwatch::console::{Access, Console};
use grantwatch::query;

use crate::inputs::{archive_of, config_or_default, grants_of};

/// `grantwatch console` options.
#[derive(Args)]
pub struct ConsoleArgs {
    /// The configuration file (grants, archive, report dirs).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The archive to read, instead of the config's `archive.url`.
    #[arg(long)]
    pub archive: Option<String>,
    /// Where to serve. Only a loopback address goes without authentication.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The one user of HTTP basic auth.
    #[arg(long, env = "GRANTWATCH_CONSOLE_USER")]
    pub basic_auth_user: Option<String>,
    /// The SHA-256 of that user's password, as hex (`printf %s PASSWORD | sha256sum`).
    #[arg(long, env = "GRANTWATCH_CONSOLE_PASSWORD_SHA256")]
    pub basic_auth_sha256: Option<String>,
    /// Admit requests carrying this header, set by an authenticating proxy in front
    /// (e.g. X-Forwarded-User); the proxy must be the only way in.
    #[arg(long)]
    pub trusted_user_header: Option<String>,
}

/// Serves the console until SIGINT or SIGTERM.
pub async fn run(
    args: ConsoleArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let access = Access::new(
        args.listen,
        args.basic_auth_user.as_deref(),
        args.basic_auth_sha256.as_deref(),
        args.trusted_user_header.as_deref(),
    )?;
    let config = config_or_default(args.config.as_deref())?;
    let archive = archive_of(args.archive.as_deref(), &config)?;
    let grants = grants_of(args.config.as_deref(), &config)?;
    let reports = query::load_reports(&config.report_dirs)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        grants = grants.len(),
        archive = archive.as_ref().map(|a| a.url().to_string()).unwrap_or_default(),
        "Serving the console."
    );
    let console = Console::new(archive, Arc::new(grants), reports);
    grantwatch::console::serve(listener, console, access, shutdown).await?;
    Ok(())
}
