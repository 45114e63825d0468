//! The `grantwatch` command: parses the CLI, starts telemetry, calls the library and
//! maps errors to exit codes (0 ok, 1 findings, 2 bad usage, bad input or failed start).

mod archive;
mod console;
mod decide;
mod explain;
mod grants;
mod inputs;
mod query;
mod replay;
mod rules;
mod stdout;
mod suppressions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use grantwatch::config::Config;
use grantwatch::{demo, service};

/// jemalloc instead of glibc malloc: batches allocate and free many small strings
/// and arrays across the loop's thread and the rule workers, where glibc's arenas
/// spent a tenth of the loop's time and kept freed memory resident.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
        /// Start even when the grant files hold no grant (as `[grants] allow_empty`).
        #[arg(long)]
        allow_empty_grants: bool,
    },
    /// Run the rules over files of past events and write the alerts they raise.
    Replay(replay::ReplayArgs),
    /// Work with grant files.
    Grants {
        #[command(subcommand)]
        command: GrantsCommand,
    },
    /// Work with rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Run a canned report or a SQL file over the archive and the grants.
    Query(query::QueryArgs),
    /// Show one alert with its grant, scope verdicts, evidence and a suppression.
    Explain(explain::ExplainArgs),
    /// Serve the review console (read-only, over the archive and the grants).
    Console(console::ConsoleArgs),
    /// Answer API gateways before they forward a request: allow or deny by the grants.
    Decide(decide::DecideArgs),
    /// Work with alert suppressions.
    Suppressions {
        #[command(subcommand)]
        command: SuppressionsCommand,
    },
    /// Maintain the archive.
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Merge each partition's small files into a few large ones (safe beside a
    /// running `grantwatch run`; run one at a time).
    Compact(archive::CompactArgs),
}

#[derive(Subcommand)]
enum SuppressionsCommand {
    /// Lint suppression files: exit 0 clean or warnings only, 1 any error, 2 unreadable.
    Check {
        /// Suppression files (default: the config's `alerts.suppressions`).
        paths: Vec<PathBuf>,
        /// The configuration file (for `alerts.suppressions` and `rules.dirs`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Judge expiry as of this time instead of now (RFC 3339 or a date).
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Run rule fixtures (NAME.test.yaml beside NAME.sql): exit 0 all pass, 1 any
    /// fails, 2 a fixture or rule is invalid.
    Test {
        /// A directory of rules and fixtures (default: the built-in pack and the
        /// config's `rules.dirs`).
        dir: Option<PathBuf>,
        /// The configuration file (for `rules.dirs`).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GrantsCommand {
    /// Lint grants: exit 0 clean or warnings only, 1 any error finding, 2 unreadable input.
    Check(grants::CheckArgs),
    /// Print a least-privilege version of a grant from its use in the archive.
    Propose(grants::ProposeArgs),
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
            } => demo::run(seconds, metrics_listen)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Run {
                config,
                allow_empty_grants,
            } => run(config, allow_empty_grants)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Replay(args) => replay::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Explain(args) => explain::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Console(args) => console::run(args, shutdown_signal())
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Decide(args) => decide::run(args, shutdown_signal())
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Query(args) => query::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Grants {
                command: GrantsCommand::Check(args),
            } => grants::check(args),
            Command::Grants {
                command: GrantsCommand::Propose(args),
            } => grants::propose(args).await.map(|()| ExitCode::SUCCESS),
            Command::Rules {
                command: RulesCommand::Test { dir, config },
            } => rules::test(dir, config.as_deref()).await,
            Command::Suppressions {
                command: SuppressionsCommand::Check { paths, config, at },
            } => suppressions::check(paths, config.as_deref(), at.as_deref()),
            Command::Archive {
                command: ArchiveCommand::Compact(args),
            } => archive::compact(args).await,
        }
    });
    // Not the runtime's drop, which waits for every blocking task: a Kafka client's
    // close left behind (pipeline::close) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result.unwrap_or_else(fail)
}

/// `grantwatch run`: the service until SIGINT or SIGTERM.
async fn run(config_path: PathBuf, allow_empty_grants: bool) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let mut config = Config::load(&config_path, std::env::vars())?;
    config.grants.allow_empty |= allow_empty_grants;
    service::run(config, shutdown).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled (the pipeline polls it once started): a TERM
/// during start-up (grants, brokers, state) must end in a clean exit, not in the
/// signal's default kill.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
