//! The `grantwatch` command: parses the CLI, starts telemetry, calls the library and
//! maps errors to exit codes (0 ok, 1 findings, 2 bad usage, bad input or failed start).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use grantwatch::config::Config;
use grantwatch::telemetry::{Health, Metrics};
use grantwatch::{demo, grants, http, pipeline, rules};

#[derive(Parser)]
#[command(
    version,
    about = "Watches what partner integrations do with the access they were granted"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline on an embedded Kafka with generated partner traffic.
    Demo {
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// Where to serve /metrics.
        #[arg(long, default_value = "127.0.0.1:9464")]
        metrics_listen: SocketAddr,
    },
    /// Run the service.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// A failure the user can fix: exit 2 with the cause chain on one line.
fn fail(error: anyhow::Error) -> ExitCode {
    eprintln!("grantwatch: {error:#}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRANTWATCH_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,librdkafka=warn,rdkafka=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo {
                seconds,
                metrics_listen,
            } => demo::run(seconds, metrics_listen).await,
            Command::Run { config } => run(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(error),
    }
}

async fn run(config_path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&config_path, std::env::vars())?;
    let grants = grants::load_paths(&config.grants.paths, config.grants.default_idle_after)?;
    let rules = rules::load_rules(&config.rule_dirs).map_err(|errors| {
        anyhow::anyhow!(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let (metrics, registry) = Metrics::new();
    let health = Health::default();
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = http::serve(config.metrics_listen, registry, health.clone(), async {
        let _ = http_stopped.await;
    })
    .await
    .with_context(|| {
        format!(
            "cannot listen on {} (metrics.listen)",
            config.metrics_listen
        )
    })?;
    pipeline::run(config, grants, rules, metrics, health, shutdown_signal()).await?;
    let _ = http_stop.send(());
    let _ = server.await;
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
