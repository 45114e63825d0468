//! The HTTP endpoints: `/metrics` (OpenMetrics text), `/healthz`, `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::telemetry::Health;

struct AppState {
    registry: Registry,
    health: Health,
}

/// Binds `addr` now (so a bad address fails at start) and serves until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // Logged with the real port, which differs from `addr` when it asked for port 0.
    tracing::info!(listen = %listener.local_addr()?, "Serving /metrics, /healthz and /readyz.");
    let state = Arc::new(AppState { registry, health });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "Metrics server stopped.");
        }
    }))
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics for scrapers that ask for it (Prometheus does); the classic text
/// format otherwise, which is what `promtool check metrics` and curl users read.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> impl IntoResponse {
    let mut body = String::with_capacity(4096);
    if prometheus_client::encoding::text::encode(&mut body, &state.registry).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, TEXT_FORMAT)],
            String::new(),
        );
    }
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    if wants_openmetrics {
        (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], body)
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, TEXT_FORMAT)],
            to_text_format(&body),
        )
    }
}

/// OpenMetrics → Prometheus text format 0.0.4: counter metadata names carry the
/// `_total` suffix their samples have, and there is no `# EOF`.
fn to_text_format(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE ", "# UNIT "]
            .into_iter()
            .find_map(|prefix| {
                let rest = line.strip_prefix(prefix)?;
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                counters.contains(name).then_some((prefix, name, tail))
            });
        match meta {
            Some(("# UNIT ", _, _)) => continue,
            Some((prefix, name, tail)) => {
                out.push_str(prefix);
                out.push_str(name);
                out.push_str("_total ");
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

#[cfg(test)]
mod tests {
    use super::to_text_format;

    #[test]
    fn counters_get_total_metadata_and_no_eof() {
        let om = "# HELP x_events Events.\n# TYPE x_events counter\nx_events_total{a=\"b\"} 1\n\
                  # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n# EOF\n";
        assert_eq!(
            to_text_format(om),
            "# HELP x_events_total Events.\n# TYPE x_events_total counter\nx_events_total{a=\"b\"} 1\n\
             # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}
