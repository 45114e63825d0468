//! The service as `run` and `demo` start it: grants read and watched, rules loaded,
//! `/metrics` served, then the [`pipeline`] until `shutdown`.
//!
//! Owns start-up order and nothing else: it must not judge, deliver or commit.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::grants::GrantErrors;
use crate::http;
use crate::pipeline::{self, PipelineError};
use crate::reload::{self, GrantFiles};
use crate::rules::{self, RuleError};
use crate::telemetry::events::GrantsLinted;
use crate::telemetry::{Health, Metrics};

/// Why the service did not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The grant files do not validate: the operator's fault.
    #[error("{0}")]
    Grants(#[from] GrantErrors),
    /// The grant files hold no grant, and starting so was not asked for: the
    /// operator's fault (files emptied by accident make every partner unknown).
    #[error(
        "no grant in {0}: every partner would be unknown. To start with none on purpose, \
         pass --allow-empty-grants (or set [grants] allow_empty = true)"
    )]
    NoGrants(String),
    /// A rule file does not parse: the operator's fault.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rules(Vec<RuleError>),
    /// The metrics address is taken or not ours to bind.
    #[error("cannot listen on {addr} (metrics.listen): {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Kafka, a sink, the archive or the engine failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Runs the service `config` describes until `shutdown` resolves, then drains and
/// stops the metrics server.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
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
    if grants.is_empty() && !config.grants.allow_empty {
        let paths: Vec<String> = config
            .grants
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(ServiceError::NoGrants(paths.join(", ")));
    }
    let rules = rules::load_rules(&config.rule_dirs).map_err(ServiceError::Rules)?;
    GrantsLinted {
        findings: &snapshot.findings,
    }
    .emit(&metrics);
    let grant_updates = reload::start(
        files,
        snapshot.fingerprint,
        config.grants.reload_interval,
        Arc::new(grants),
        metrics.clone(),
    );
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = config.metrics_listen;
    let server = http::serve(addr, registry, health.clone(), async {
        let _ = http_stopped.await;
    })
    .await
    .map_err(|source| ServiceError::Listen { addr, source })?;
    let result = pipeline::run(
        config,
        connecting,
        grant_updates,
        rules,
        metrics,
        health,
        shutdown,
    )
    .await;
    let _ = http_stop.send(());
    let _ = server.await;
    Ok(result?)
}
