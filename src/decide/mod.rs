//! `grantwatch decide`: the same grants at request time. An API gateway asks before
//! it forwards a partner's request, and the answer is the stream's own verdict: the
//! action is judged by the detector's per-event rules as a batch of one
//! ([`Detector::dry_run`]), changing no state, and denied exactly when a rule of
//! severity medium or higher fires on it that judges the grant rather than
//! behaviour (see [`ADVISORY`]). One contract, enforced at the gate and verified in
//! the stream.

mod decision;
mod request;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, watch};

pub use decision::{ADVISORY, Decision, Reason, Verdict, denies};
pub use request::Headers;

use crate::decode::{ActionsBuilder, Source};
use crate::detect::Detector;
use crate::grants::verdict::Facts;
use crate::grants::{self, GrantSet};
use crate::telemetry::Metrics;
use crate::telemetry::events::{Decided, DecisionNotProduced};

/// What to answer when the rules cannot be run on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailMode {
    /// Deny: nothing passes that was not judged.
    Closed,
    /// Allow: the gateway keeps serving, and the stream still judges.
    Open,
}

/// The grant set an answer was decided by.
#[derive(Debug, Clone, Serialize)]
pub struct GrantSetInfo {
    /// SHA-256 of the grant files, hex.
    pub hash: String,
    /// When it was loaded (RFC 3339).
    pub loaded_at: String,
}

/// The answer to one request.
#[derive(Debug, Serialize)]
pub struct Answer {
    /// What was decided.
    #[serde(flatten)]
    pub decision: Decision,
    /// The grant set in force.
    pub grants: GrantSetInfo,
    /// What the rules knew of the grants' history.
    pub state: Arc<str>,
    /// Why the rules could not run, when they could not (the fail mode decided).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The rules have no history here: windowed limits and baselines count this request
/// alone.
const NO_STATE: &str = "none: rate limits, daily amounts and baselines count this request \
                        alone (the stream's state topic could not be read, or --no-state)";

/// The detector and the grants it judges by.
struct Judge {
    detector: Detector,
    grants: Arc<GrantSet>,
    info: GrantSetInfo,
}

/// Decides requests against the grants in force, reloaded as `run` reloads them.
pub struct Decider {
    judge: Mutex<Judge>,
    updates: std::sync::Mutex<watch::Receiver<Arc<GrantSet>>>,
    paths: Vec<PathBuf>,
    headers: Headers,
    fail: FailMode,
    max_message_bytes: usize,
    metrics: Metrics,
    next_id: AtomicU64,
    /// Where every decision is produced as a native event, if anywhere.
    events: Option<DecisionEvents>,
    /// What the answers say of the state the rules judged with.
    state: Arc<str>,
}

/// The topic decisions are produced to, so that the stream and the archive see the
/// gate's decisions too.
pub struct DecisionEvents {
    /// The producer.
    pub producer: rdkafka::producer::FutureProducer,
    /// The topic.
    pub topic: String,
}

impl DecisionEvents {
    /// Produces `event` (keyed by its credential, as partner actions are) without
    /// holding the answer: a failed delivery is logged and counted.
    fn send(&self, mut event: Map<String, Value>, decision: &Decision, metrics: &Metrics) {
        if decision.verdict == Verdict::Deny {
            event.insert("outcome".into(), "denied".into());
        }
        event.insert("decision".into(), decision.verdict.as_str().into());
        event.insert("decision_reasons".into(), decision.denying_rules().into());
        let key = event
            .get("credential_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let payload = Value::Object(event).to_string();
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let record = rdkafka::producer::FutureRecord::to(&topic)
                .key(&key)
                .payload(&payload);
            if let Err((error, _)) = producer
                .send(record, std::time::Duration::from_secs(30))
                .await
            {
                DecisionNotProduced {
                    topic: &topic,
                    error: &error,
                }
                .emit(&metrics);
            }
        });
    }
}

/// How a [`Decider`] reads requests and what it does beyond answering.
pub struct Options {
    /// The headers of an `ext_authz` check.
    pub headers: Headers,
    /// What to answer when the rules cannot run.
    pub fail: FailMode,
    /// The largest request body judged, as `kafka.max_message_bytes`.
    pub max_message_bytes: usize,
    /// Where decisions are produced, if anywhere.
    pub events: Option<DecisionEvents>,
    /// The state topic the detector's store follows, if it does.
    pub state_topic: Option<String>,
}

/// Why a request could not be decided: the caller's fault.
#[derive(Debug)]
pub struct BadRequest(pub String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, format!("{}\n", self.0)).into_response()
    }
}

impl Decider {
    /// A decider judging with `detector` (over the grants read from `paths`), taking
    /// new sets from `updates`.
    pub fn new(
        detector: Detector,
        updates: watch::Receiver<Arc<GrantSet>>,
        paths: Vec<PathBuf>,
        options: Options,
        metrics: Metrics,
    ) -> Self {
        let grants = Arc::clone(detector.grants());
        let info = info(&paths);
        let Options {
            headers,
            fail,
            max_message_bytes,
            events,
            state_topic,
        } = options;
        let state = match state_topic {
            Some(topic) => {
                format!("shared: the stream's grant state from {topic}, read at start and followed")
                    .into()
            }
            None => NO_STATE.into(),
        };
        Self {
            judge: Mutex::new(Judge {
                detector,
                grants,
                info,
            }),
            updates: std::sync::Mutex::new(updates),
            paths,
            headers,
            fail,
            max_message_bytes,
            metrics,
            next_id: AtomicU64::new(0),
            events,
            state,
        }
    }

    fn id(&self) -> String {
        format!("decide-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Decides on `event` (a native event).
    pub async fn decide(&self, event: Map<String, Value>) -> Result<Answer, BadRequest> {
        let mut builder = ActionsBuilder::new(self.max_message_bytes);
        let payload = Value::Object(event.clone()).to_string();
        let source = Source {
            topic: "decide",
            partition: 0,
            offset: 0,
        };
        builder
            .push_native(payload.as_bytes(), source)
            .map_err(|e| BadRequest(e.to_string()))?;
        let batch = builder
            .finish()
            .map_err(|e| BadRequest(format!("cannot build the action: {e}")))?;
        let newer = {
            let mut updates = self.updates.lock().unwrap_or_else(|p| p.into_inner());
            updates
                .has_changed()
                .unwrap_or(false)
                .then(|| Arc::clone(&updates.borrow_and_update()))
        };
        let mut judge = self.judge.lock().await;
        if let Some(grants) = newer {
            match judge.detector.set_grants(Arc::clone(&grants)) {
                Ok(()) => {
                    judge.grants = grants;
                    judge.info = info(&self.paths);
                }
                Err(error) => tracing::error!(%error, "New grants not put in force for decide."),
            }
        }
        let credential = event
            .get("credential_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let facts = Facts::of_event(&event);
        let (decision, error) = match judge.detector.dry_run(batch, Utc::now()).await {
            Ok(alerts) => (
                Decision::from_alerts(&alerts, &judge.grants, &credential, &facts),
                None,
            ),
            Err(error) => (
                self.failed(&judge.grants, &credential, &error.to_string()),
                Some(error.to_string()),
            ),
        };
        let denied_by: Vec<&str> = decision
            .reasons
            .iter()
            .filter(|r| !r.advisory)
            .map(|r| r.rule.as_str())
            .collect();
        if let Some(events) = &self.events {
            events.send(event.clone(), &decision, &self.metrics);
        }
        Decided {
            verdict: decision.verdict.as_str(),
            denied_by: &denied_by,
            credential: &credential,
            action: &facts.action,
        }
        .emit(&self.metrics);
        Ok(Answer {
            decision,
            grants: judge.info.clone(),
            state: Arc::clone(&self.state),
            error,
        })
    }

    /// The decision when the rules could not run: as the fail mode says.
    fn failed(&self, grants: &GrantSet, credential: &str, error: &str) -> Decision {
        let (verdict, advisory) = match fail_mode(grants, credential, self.fail) {
            FailMode::Closed => (Verdict::Deny, false),
            FailMode::Open => (Verdict::Allow, true),
        };
        tracing::error!(%error, mode = ?self.fail, "Rules failed on a request.");
        Decision {
            verdict,
            grant_id: None,
            scope: None,
            owner: None,
            reasons: vec![Reason {
                rule: "decide_failed".into(),
                severity: "critical".into(),
                reason: error.to_owned(),
                advisory,
            }],
        }
    }
}

/// The fail mode for `credential`: its grants' `decide_fail`, closed if any grant
/// binding it says closed, else open if one says open, else `global`.
pub fn fail_mode(grants: &GrantSet, credential: &str, global: FailMode) -> FailMode {
    let said: Vec<bool> = grants
        .grants()
        .iter()
        .filter(|g| g.credentials.iter().any(|c| c == credential))
        .filter_map(|g| g.decide_fail_open)
        .collect();
    if said.contains(&false) {
        FailMode::Closed
    } else if said.contains(&true) {
        FailMode::Open
    } else {
        global
    }
}

/// The stream's state topic read to its end into `store` and followed, or nothing
/// (logged) when it cannot be read within 30 s: then decisions say so.
async fn follow_state(
    config: &crate::config::KafkaConfig,
    store: crate::state::SharedStore,
) -> Option<crate::kafka::StateTopic> {
    let opened = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let producer = crate::kafka::producer(config)?;
        crate::kafka::StateTopic::open(config, producer, store).await
    })
    .await;
    match opened {
        Ok(Ok(state)) => Some(state),
        Ok(Err(error)) => {
            tracing::warn!(%error, "The state topic cannot be read: decisions judge without it.");
            None
        }
        Err(_) => {
            tracing::warn!("The state topic was not read within 30 s: decisions judge without it.");
            None
        }
    }
}

fn info(paths: &[PathBuf]) -> GrantSetInfo {
    GrantSetInfo {
        hash: hex::encode(grants::fingerprint(paths)),
        loaded_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// The routes: `POST /v1/decide`, Envoy's `ext_authz` under `/ext_authz/`, and
/// `/healthz`.
pub fn router(decider: Arc<Decider>) -> Router {
    Router::new()
        .route("/v1/decide", post(decide_json))
        .route("/ext_authz", any(ext_authz_root))
        .route("/ext_authz/{*path}", any(ext_authz))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(decider)
}

async fn decide_json(
    State(decider): State<Arc<Decider>>,
    body: Bytes,
) -> Result<Response, BadRequest> {
    let event = request::from_body(&body, Utc::now(), &decider.id()).map_err(BadRequest)?;
    let answer = decider.decide(event).await?;
    let json = serde_json::to_string(&answer).map_err(|e| BadRequest(e.to_string()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

async fn ext_authz_root(
    state: State<Arc<Decider>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    check(state, method, String::new(), headers).await
}

async fn ext_authz(
    state: State<Arc<Decider>>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    check(state, method, path, headers).await
}

/// Envoy's HTTP `ext_authz` service: 200 allows, 403 denies, with the verdict, the
/// denying rules and the grant set's hash in `x-grantwatch-*` headers. A request
/// without the credential header is denied: it cannot be matched to a grant.
async fn check(
    State(decider): State<Arc<Decider>>,
    method: Method,
    path: String,
    headers: HeaderMap,
) -> Response {
    let now: DateTime<Utc> = Utc::now();
    let event = match request::from_ext_authz(
        &method,
        &format!("/{path}"),
        &headers,
        &decider.headers,
        now,
        &decider.id(),
    ) {
        Ok(event) => event,
        Err(why) => return deny_header(&why),
    };
    match decider.decide(event).await {
        Ok(answer) => {
            let status = match answer.decision.verdict {
                Verdict::Allow => StatusCode::OK,
                Verdict::Deny => StatusCode::FORBIDDEN,
            };
            (
                status,
                [
                    (
                        "x-grantwatch-decision",
                        answer.decision.verdict.as_str().to_owned(),
                    ),
                    ("x-grantwatch-reasons", answer.decision.denying_rules()),
                    ("x-grantwatch-grants", answer.grants.hash.clone()),
                ],
            )
                .into_response()
        }
        Err(BadRequest(why)) => deny_header(&why),
    }
}

fn deny_header(why: &str) -> Response {
    // Header values must be visible ASCII: the reason is ours, but may quote a header.
    let why: String = why
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    (
        StatusCode::FORBIDDEN,
        [
            ("x-grantwatch-decision", "deny".to_owned()),
            ("x-grantwatch-reasons", why),
        ],
    )
        .into_response()
}

/// Why `decide` did not start: the operator's configuration.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The grant files do not validate.
    #[error("{0}")]
    Grants(#[from] crate::grants::GrantErrors),
    /// The grant files hold no grant: every partner would be denied as unknown.
    #[error(
        "no grant in the grant files: every request would be denied ([grants] allow_empty to start so)"
    )]
    NoGrants,
    /// A rule file does not parse or plan.
    #[error("{0}")]
    Rules(String),
    /// The decisions topic's producer cannot be made.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::KafkaError),
    /// An address is taken or not ours to bind.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Where `decide` listens, and how it reads requests.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The decision endpoints.
    pub listen: std::net::SocketAddr,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub metrics_listen: std::net::SocketAddr,
    /// The headers of an `ext_authz` check.
    pub headers: Headers,
    /// What to answer when the rules cannot run.
    pub fail: FailMode,
    /// The topic every decision is produced to (with `[kafka]`'s brokers), if any.
    pub decisions_topic: Option<String>,
    /// Whether to follow the stream's state topic (`kafka.state_topic`), so that
    /// rate limits, daily amounts and baselines count what the stream saw.
    pub read_state: bool,
}

/// Serves decisions on the grants `config` names until `shutdown`, reloading them as
/// `run` does. Refuses to start when the grants or rules do not load.
pub async fn serve(
    config: crate::config::Config,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DecideError> {
    use crate::reload::{self, GrantFiles};
    let (metrics, registry) = Metrics::new();
    let files = GrantFiles::new(&config.grants);
    let snapshot = files.read();
    let grants = snapshot.grants?;
    if grants.is_empty() && !config.grants.allow_empty {
        return Err(DecideError::NoGrants);
    }
    let rules = crate::rules::load_rules(&config.rule_dirs).map_err(|errors| {
        DecideError::Rules(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let store = crate::state::SharedStore::default();
    let state = if settings.read_state {
        follow_state(&config.kafka, store.clone()).await
    } else {
        None
    };
    let detector = Detector::new(
        &rules,
        Arc::new(grants),
        store,
        Vec::new(),
        config.alerts.grouping(),
    )
    .await
    .map_err(|e| DecideError::Rules(e.to_string()))?;
    let receiver = reload::start(
        files,
        snapshot.fingerprint,
        config.grants.reload_interval,
        Arc::clone(detector.grants()),
        metrics.clone(),
    );
    let health = crate::telemetry::Health::default();
    health.set_grants_loaded(true);
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = settings.metrics_listen;
    let server = crate::http::serve(addr, registry, health, async {
        let _ = http_stopped.await;
    })
    .await
    .map_err(|source| DecideError::Listen { addr, source })?;
    let events = match settings.decisions_topic {
        Some(topic) => Some(DecisionEvents {
            producer: crate::kafka::producer(&config.kafka)?,
            topic,
        }),
        None => None,
    };
    let options = Options {
        headers: settings.headers,
        fail: settings.fail,
        max_message_bytes: config.kafka.max_message_bytes,
        events,
        state_topic: state.as_ref().map(|_| config.kafka.state_topic.clone()),
    };
    let decider = Decider::new(
        detector,
        receiver,
        config.grants.paths.clone(),
        options,
        metrics,
    );
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| DecideError::Listen {
            addr: settings.listen,
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| DecideError::Listen {
            addr: settings.listen,
            source,
        })?;
    tracing::info!(decide = %bound, fail = ?settings.fail, "Serving decisions.");
    let decider = Arc::new(decider);
    let served = axum::serve(listener, router(Arc::clone(&decider)))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(events) = &decider.events {
        // Decisions answered but not yet delivered go out before the exit.
        let producer = events.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            rdkafka::producer::Producer::flush(&producer, std::time::Duration::from_secs(10))
        })
        .await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!("Some decisions were not produced before the exit.");
        }
    }
    let _ = http_stop.send(());
    let _ = server.await;
    drop(state);
    served.map_err(|source| DecideError::Listen {
        addr: settings.listen,
        source,
    })
}
