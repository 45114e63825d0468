//! The `grantwatch` command: parses the CLI, starts telemetry, calls the library and
//! maps errors to exit codes (0 ok, 1 findings, 2 bad usage, bad input or failed start).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use grantwatch::archive::ArchiveLocation;
use grantwatch::config::Config;
use grantwatch::decode::Format;
use grantwatch::reload::{self, GrantFiles};
use grantwatch::replay::ReplayOptions;
use grantwatch::telemetry::events::GrantsLinted;
use grantwatch::telemetry::{Health, Metrics};
use grantwatch::{demo, grants, http, pipeline, rules};

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
    },
    /// Run the rules over files of past events and write the alerts they raise.
    Replay(ReplayArgs),
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
    Query(QueryArgs),
    /// Work with alert suppressions.
    Suppressions {
        #[command(subcommand)]
        command: SuppressionsCommand,
    },
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
    Check(CheckArgs),
    /// Print a least-privilege version of a grant from its use in the archive.
    Propose(ProposeArgs),
}

/// `grantwatch grants propose` options.
#[derive(Args)]
struct ProposeArgs {
    /// The grant to narrow.
    grant_id: String,
    /// How far back to look: RFC 3339, a date, or an age like 90d.
    #[arg(long, default_value = "90d")]
    since: String,
    /// End of the window (default: now).
    #[arg(long)]
    until: Option<String>,
    /// The configuration file (grants and archive).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The archive to read, instead of the config's `archive.url`.
    #[arg(long)]
    archive: Option<String>,
}

/// `grantwatch grants check` options.
#[derive(Args)]
struct CheckArgs {
    /// Grant files or directories (default: the config's `grants.paths`).
    paths: Vec<PathBuf>,
    /// The configuration file (for `grants.paths` and `grants.max_lifetime`).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// `human` (one line per finding) or `json` (one document, for CI).
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    format: String,
    /// Judge expiry as of this time instead of now (RFC 3339 or a date).
    #[arg(long)]
    at: Option<String>,
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
            Command::Run { config } => run(config).await.map(|()| ExitCode::SUCCESS),
            Command::Replay(args) => replay(args).await.map(|()| ExitCode::SUCCESS),
            Command::Query(args) => query(args).await.map(|()| ExitCode::SUCCESS),
            Command::Grants {
                command: GrantsCommand::Check(args),
            } => grants_check(args),
            Command::Grants {
                command: GrantsCommand::Propose(args),
            } => grants_propose(args).await.map(|()| ExitCode::SUCCESS),
            Command::Rules {
                command: RulesCommand::Test { dir, config },
            } => rules_test(dir, config.as_deref()).await,
            Command::Suppressions {
                command: SuppressionsCommand::Check { paths, config, at },
            } => suppressions_check(paths, config.as_deref(), at.as_deref()),
        }
    });
    result.unwrap_or_else(fail)
}

async fn run(config_path: PathBuf) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let config = Config::load(&config_path, std::env::vars())?;
    if let Some(warning) = &config.readable_secrets {
        tracing::warn!(%warning, "Secrets in a readable config file.");
    }
    let (metrics, registry) = Metrics::new();
    let health = Health::default();
    // Kafka is reached while the grants are parsed and the rules planned.
    let connecting = pipeline::Connecting::start(&config.kafka, &metrics, &health);
    let files = GrantFiles::new(&config.grants);
    let snapshot = files.read();
    let grants = snapshot.grants?;
    let rules = load_rules(&config.rule_dirs)?;
    GrantsLinted {
        findings: &snapshot.findings,
    }
    .emit(&metrics);
    let (updates, grant_updates) = tokio::sync::watch::channel(Arc::new(grants));
    tokio::spawn(reload::watch(
        files,
        snapshot.fingerprint,
        config.grants.reload_interval,
        updates,
        metrics.clone(),
    ));
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
    pipeline::run(
        config,
        connecting,
        grant_updates,
        rules,
        metrics,
        health,
        shutdown,
    )
    .await?;
    let _ = http_stop.send(());
    let _ = server.await;
    Ok(())
}

/// `grantwatch query` options.
#[derive(Args)]
struct QueryArgs {
    /// A canned report's name (see `queries/reports/`) or a path to a .sql file.
    report: String,
    /// A report parameter, `name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Start of the window: RFC 3339, a date, or an age like 90d (default: all history).
    #[arg(long)]
    since: Option<String>,
    /// End of the window, exclusive; also what `now()` answers (default: now).
    #[arg(long)]
    until: Option<String>,
    /// `table`, `csv` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    format: String,
    /// The configuration file (archive URL, grants, report dirs).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The archive to read, instead of the config's `archive.url`.
    #[arg(long)]
    archive: Option<String>,
}

/// `grantwatch replay` options.
#[derive(Args)]
struct ReplayArgs {
    /// Files or directories of events (JSON lines, or CloudTrail delivery files).
    #[arg(long, required_unless_present = "archive", conflicts_with = "archive")]
    input: Vec<PathBuf>,
    /// Replay the events archived under this URL (or directory) instead of files.
    #[arg(long)]
    archive: Option<String>,
    /// Also archive the replayed events and the alerts to this URL or directory.
    #[arg(long)]
    archive_out: Option<String>,
    /// Where to write the alerts, as JSON lines.
    #[arg(long)]
    alerts_out: PathBuf,
    /// Only events at or after this time (RFC 3339, a date, or an age like 90d).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time.
    #[arg(long)]
    until: Option<String>,
    /// The configuration file (grants, rules, format); defaults apply without one.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Grant files or directories, instead of the config's `grants.paths`.
    #[arg(long)]
    grants: Vec<PathBuf>,
    /// Input format, instead of the config's `kafka.format`.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Environment for events that carry none (a k8s cluster name).
    #[arg(long)]
    environment: Option<String>,
}

/// The archive `--archive` names, else the config's; `None` (with a warning) if neither.
fn archive_of(flag: Option<&str>, config: &Config) -> anyhow::Result<Option<ArchiveLocation>> {
    let archive = match flag {
        Some(url) => Some(ArchiveLocation::parse(url, Path::new("."))?),
        None => config.archive.as_ref().map(|a| a.location.clone()),
    };
    if archive.is_none() {
        tracing::warn!("No archive (--archive or [archive] url): its tables are empty.");
    }
    Ok(archive)
}

async fn grants_propose(args: ProposeArgs) -> anyhow::Result<()> {
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

async fn query(args: QueryArgs) -> anyhow::Result<()> {
    use grantwatch::query::{self, OutputFormat, QuerySession, TimeRange};
    let config = config_or_default(args.config.as_deref())?;
    let archive = archive_of(args.archive.as_deref(), &config)?;
    let grants = if args.config.is_some() {
        grants::load_paths(&config.grants.paths, config.grants.default_idle_after)?
    } else {
        grants::GrantSet::default()
    };
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

/// The config at `path`, or the defaults (relative to the working directory).
fn config_or_default(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::load(path, std::env::vars())?,
        None => Config::from_toml("", Path::new("grantwatch.toml"), std::env::vars())?,
    })
}

fn grants_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    use grants::lint::{Level, Policy, lint};
    let config = config_or_default(args.config.as_deref())?;
    let paths = if args.paths.is_empty() {
        config.grants.paths.clone()
    } else {
        args.paths
    };
    let now = match &args.at {
        Some(at) => grants::parse_time(at).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
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

fn suppressions_check(
    paths: Vec<PathBuf>,
    config: Option<&Path>,
    at: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use grantwatch::suppressions;
    let config = config_or_default(config)?;
    let paths = if paths.is_empty() {
        config.alerts.suppressions.clone()
    } else {
        paths
    };
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        eprintln!("grantwatch: {}: cannot read", missing.display());
        return Ok(ExitCode::from(2));
    }
    let now = match at {
        Some(at) => grants::parse_time(at).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        None => chrono::Utc::now(),
    };
    let rules = load_rules(&config.rule_dirs)?;
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    let (lines, errors) = match suppressions::load(&paths) {
        Ok(valid) => {
            let findings = suppressions::lint(&valid, &names, now);
            let errors = findings.iter().filter(|f| f.error).count();
            (findings.iter().map(ToString::to_string).collect(), errors)
        }
        Err(invalid) => {
            let lines: Vec<String> = invalid.iter().map(|e| format!("{e}")).collect();
            let n = lines.len();
            (lines, n)
        }
    };
    let mut report: String = lines.iter().map(|l| format!("{l}\n")).collect();
    report.push_str(&format!(
        "{} file{} checked: {errors} error{}\n",
        paths.len(),
        plural(paths.len()),
        plural(errors)
    ));
    write_stdout(&report)?;
    Ok(ExitCode::from(u8::from(errors > 0)))
}

async fn rules_test(dir: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    use grantwatch::fixtures;
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
    let dedup_window_ms = config.alerts.dedup_window_ms();
    let results = fixtures::run_all(&rules, &fixtures, dedup_window_ms).await?;
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

/// Writes a command's report; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let config = config_or_default(args.config.as_deref())?;
    let grant_paths = if args.grants.is_empty() {
        config.grants.paths.clone()
    } else {
        args.grants.clone()
    };
    let grants = grants::load_paths(&grant_paths, config.grants.default_idle_after)?;
    let rules = load_rules(&config.rule_dirs)?;
    let first_topic = config.kafka.topics.first().cloned().unwrap_or_default();
    let mut format = config.kafka.format_of(&first_topic);
    if let Some(chosen) = args.format {
        format.format = chosen;
    }
    format.environment = args.environment.clone().or(format.environment);
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
        dedup_window_ms: config.alerts.dedup_window_ms(),
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
        "replayed {} events from {} files ({rejected} records rejected{}): {} alerts written to {}{}",
        summary.events,
        summary.files,
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

/// RFC 3339, a date, or an age (`90d`) before now.
fn parse_when(text: &str, flag: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = grants::parse_time(text) {
        return Ok(t);
    }
    let age = grants::parse_duration(text).map_err(|_| {
        anyhow::anyhow!("{flag}: `{text}` is not a time, a date or an age like 90d")
    })?;
    Ok(chrono::Utc::now() - chrono::Duration::from_std(age).context(flag.to_owned())?)
}

fn load_rules(dirs: &[PathBuf]) -> anyhow::Result<Vec<rules::Rule>> {
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
