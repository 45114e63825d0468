//! `grantwatch console`: a read-only web console over the archive and the grants in
//! force, for SOC analysts and grant owners. It reads the archive through `query`,
//! as `grantwatch query` does, and needs no Kafka.
//!
//! Every value shown comes from partner traffic or from files, and is untrusted:
//! pages are rendered on the server by maud, which escapes every interpolated
//! value; they carry no script, and a strict Content-Security-Policy forbids any.
//! Decisions leave the console as text to review (a suppression stanza, a proposed
//! grant), never as state it keeps.

mod access;
mod alert;
mod alerts;
mod chart;
mod csv;
mod data;
mod diff;
mod grant;
mod overview;
mod owner;
mod page;
mod reports;
mod todo;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::get;

pub use access::{Access, AccessError};

use crate::archive::ArchiveLocation;
use crate::grants::GrantSet;
use crate::query::Report;

/// What the console serves: the archive, the grants in force and the canned reports.
pub struct Console {
    archive: Option<ArchiveLocation>,
    grants: Arc<GrantSet>,
    reports: Vec<Report>,
}

impl Console {
    /// A console over `archive` (none: pages say there is no archive) and `grants`.
    pub fn new(
        archive: Option<ArchiveLocation>,
        grants: Arc<GrantSet>,
        reports: Vec<Report>,
    ) -> Self {
        Self {
            archive,
            grants,
            reports,
        }
    }
}

/// The console's routes, behind `access`.
pub fn router(console: Console, access: Access) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/alerts", get(alerts::page))
        .route("/alerts.csv", get(alerts::csv))
        .route("/alerts/{id}", get(alert::page))
        .route("/grants/{id}", get(grant::page))
        .route("/owners/{owner}", get(owner::page))
        .route("/reports", get(reports::index))
        .route("/reports/{name}", get(reports::page))
        .route("/reports/{name}/csv", get(reports::csv))
        .route("/console.css", get(page::stylesheet))
        // Browsers ask for it on every page; there is none.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .fallback(page::no_such_page)
        .layer(middleware::from_fn_with_state(
            Arc::new(access),
            access::check,
        ))
        .layer(middleware::from_fn(page::security_headers))
        .with_state(Arc::new(console))
}

/// Serves the console on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    console: Console,
    access: Access,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(console, access))
        .with_graceful_shutdown(shutdown)
        .await
}
