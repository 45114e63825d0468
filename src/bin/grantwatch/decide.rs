//! `grantwatch decide`: the grants at request time, for API gateways.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use grantwatch::config::Config;
use grantwatch::decide::{self, FailMode, Headers, Settings};

/// `grantwatch decide` options.
#[derive(Args)]
pub struct DecideArgs {
    /// The configuration file (grants, rules; `[kafka]` is not used).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Where `POST /v1/decide` and `/ext_authz/…` are served.
    #[arg(long, default_value = "127.0.0.1:9191")]
    pub listen: SocketAddr,
    /// Where `/metrics` is served (default: the config's `metrics.listen`).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// When the rules cannot run on a request: deny it (`closed`) or allow it (`open`).
    #[arg(long, value_enum, default_value = "closed")]
    pub fail: FailMode,
    /// The header of an ext_authz check that names the credential.
    #[arg(long, default_value = "x-client-id")]
    pub credential_header: String,
    /// The header that names the environment.
    #[arg(long, default_value = "x-grantwatch-environment")]
    pub environment_header: String,
    /// The header that gives the amount moved.
    #[arg(long, default_value = "x-grantwatch-amount")]
    pub amount_header: String,
    /// The header that gives its currency.
    #[arg(long, default_value = "x-grantwatch-currency")]
    pub currency_header: String,
    /// Produce every decision to this topic as a native event (`outcome: denied`
    /// for a denial), with the config's `[kafka]` brokers.
    #[arg(long)]
    pub decisions_topic: Option<String>,
    /// Judge without the stream's state topic (rate limits, daily amounts and
    /// baselines then count each request alone).
    #[arg(long)]
    pub no_state: bool,
}

/// Serves decisions until SIGINT or SIGTERM.
pub async fn run(
    args: DecideArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = Config::load(&args.config, std::env::vars())?;
    let settings = Settings {
        listen: args.listen,
        metrics_listen: args.metrics_listen.unwrap_or(config.metrics_listen),
        headers: Headers {
            credential: args.credential_header.to_ascii_lowercase(),
            environment: args.environment_header.to_ascii_lowercase(),
            amount: args.amount_header.to_ascii_lowercase(),
            currency: args.currency_header.to_ascii_lowercase(),
        },
        fail: args.fail,
        decisions_topic: args.decisions_topic,
        read_state: !args.no_state,
    };
    decide::serve(config, settings, shutdown).await?;
    Ok(())
}
