//! [`Detector`]: judge a batch, run the scheduled rules.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::max;
use datafusion::arrow::error::ArrowError;

use super::build::build_alerts;
use super::{findings, rollup};
use crate::activity::BatchActivity;
use crate::alerts::{Alert, Grouping};
use crate::decode::schema;
use crate::grants::{GrantSet, GrantTables};
use crate::kafka::Ownership;
use crate::rules::{EngineError, Prepared, Preparer, Rule, RuleEngine, RuleError};
use crate::state::{SharedStore, StateRecord};
use crate::suppressions::Suppression;

/// Why detection could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// A rule does not plan: the user's rules are wrong.
    #[error("invalid rules:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Rules(Vec<RuleError>),
    /// A rule failed on a batch.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A table could not be built (a bug).
    #[error("cannot build a table: {0}")]
    Arrow(#[from] ArrowError),
}

/// What judging one batch decided.
#[derive(Debug, Default)]
pub struct Judgement {
    /// The alerts sinks must see now: new ones, and known ones whose severity rose
    /// (with their cumulative count). Repeats are folded into the ledger and go out
    /// as updates ([`Detector::updates_due`]).
    pub alerts: Vec<Alert>,
    /// Alerts a suppression silenced: counted, never delivered.
    pub suppressed: Vec<Alert>,
    /// The batch's activity per grant and credential, already recorded in the store.
    pub activity: BatchActivity,
    /// The newest event time in the batch (epoch ms), if it had events.
    pub newest_ms: Option<i64>,
    /// Alerts of groups another instance reports, relayed to it through the state.
    pub relayed: usize,
}

/// What the per-batch rules raised on a batch, before anything is kept.
struct Raised {
    batch: RecordBatch,
    alerts: Vec<Alert>,
    activity: BatchActivity,
}

/// What one round of scheduled rules decided.
#[derive(Debug, Default)]
pub struct Findings {
    /// New or changed findings, to deliver.
    pub alerts: Vec<Alert>,
    /// Findings a suppression silenced.
    pub suppressed: Vec<Alert>,
    /// State records to persist (findings in force, tombstones for cleared ones).
    pub records: Vec<(String, Option<StateRecord>)>,
}

/// Whether this instance reports `alert`: it owns its group, or it has none.
fn reported_here(ownership: &Ownership, alert: &Alert) -> bool {
    alert.group.is_empty() || ownership.owns_group(&alert.group)
}

/// Judges actions against the grants in force and what the state knows.
///
/// Batches are judged one at a time, in order; their boundaries change nothing an
/// alert says (id, count, severity, event ids), since every alert is folded into the
/// ledger by id.
pub struct Detector {
    engine: RuleEngine,
    grants: Arc<GrantSet>,
    store: SharedStore,
    suppressions: Vec<Suppression>,
    grouping: Grouping,
}

impl Detector {
    /// Plans `rules` against `grants`; a rule that does not plan is refused here.
    /// `store` is the grant state, shared with whoever persists it.
    pub async fn new(
        rules: &[Rule],
        grants: Arc<GrantSet>,
        store: SharedStore,
        suppressions: Vec<Suppression>,
        grouping: Grouping,
    ) -> Result<Self, DetectorError> {
        let engine = RuleEngine::new(rules, GrantTables::build(&grants)?)
            .await
            .map_err(DetectorError::Rules)?;
        Ok(Self {
            engine,
            grants,
            store,
            suppressions,
            grouping,
        })
    }

    /// The rule engine (which rules run, and when).
    pub fn engine(&self) -> &RuleEngine {
        &self.engine
    }

    /// The grant set in force.
    pub fn grants(&self) -> &Arc<GrantSet> {
        &self.grants
    }

    /// The grant state judged against.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Prepares batches against the grants in force, from any task.
    pub fn preparer(&self) -> Preparer {
        self.engine.preparer()
    }

    /// Puts a new grant set in force; batches prepared before are prepared again.
    pub fn set_grants(&mut self, grants: Arc<GrantSet>) -> Result<(), DetectorError> {
        self.engine.set_grants(GrantTables::build(&grants)?)?;
        self.grants = grants;
        Ok(())
    }

    /// Judges a batch of actions as the only instance: [`Detector::judge_prepared`]
    /// after preparing it.
    pub async fn judge(
        &self,
        batch: RecordBatch,
        now: DateTime<Utc>,
    ) -> Result<Judgement, DetectorError> {
        let prepared = self.preparer().prepare(batch)?;
        self.judge_prepared(prepared, &Ownership::everything(), now)
            .await
    }

    /// Runs every per-batch rule over the batch and the state before it, groups the
    /// rows into alerts, drops the suppressed ones, folds those of the groups
    /// `ownership` gives this instance into the ledger and relays the others to
    /// their owner (`state::Relays`), and records the batch's activity. `now` is the
    /// wall clock: alerts' detection time, and the ledger's clock for updates and
    /// forgetting.
    pub async fn judge_prepared(
        &self,
        prepared: Prepared,
        ownership: &Ownership,
        now: DateTime<Utc>,
    ) -> Result<Judgement, DetectorError> {
        let Some(Raised {
            batch,
            alerts: built,
            activity,
        }) = self.raise(prepared, now).await?
        else {
            return Ok(Judgement::default());
        };
        let (suppressed, kept) = self.suppress(built);
        let now_ms = now.timestamp_millis();
        let (owned, relayed): (Vec<Alert>, Vec<Alert>) =
            kept.into_iter().partition(|a| reported_here(ownership, a));
        let relayed_count = relayed.len();
        let alerts = self.store.with(|s| {
            s.record_batch(activity.iter());
            s.relays.send(relayed);
            s.alerts.admit(owned, now_ms, self.grouping.window_ms)
        });
        Ok(Judgement {
            alerts,
            suppressed,
            activity,
            newest_ms: max(&schema::event_times(&batch)),
            relayed: relayed_count,
        })
    }

    /// The alerts the per-batch rules raise on `batch` against the grants in force and
    /// the state as it is, changing nothing: no activity recorded, nothing folded
    /// into the ledger. What `grantwatch decide` answers a request with, so that
    /// the gate and the stream judge by the same rules. Suppressions do not apply:
    /// they silence alerts, they do not allow actions.
    pub async fn dry_run(
        &self,
        batch: RecordBatch,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>, DetectorError> {
        let prepared = self.preparer().prepare(batch)?;
        Ok(self
            .raise(prepared, now)
            .await?
            .map(|raised| raised.alerts)
            .unwrap_or_default())
    }

    /// Runs every per-batch rule over the batch and the state before it and groups
    /// the rows into alerts, changing nothing; `None` for an empty batch. The one
    /// path by which both [`Detector::judge_prepared`] and [`Detector::dry_run`]
    /// judge.
    async fn raise(
        &self,
        prepared: Prepared,
        now: DateTime<Utc>,
    ) -> Result<Option<Raised>, DetectorError> {
        let batch = prepared.batch().clone();
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let store = &self.store;
        let evaluation = self
            .engine
            .evaluate_prepared(prepared, |grants| store.with(|s| s.tables_for(grants)))
            .await?;
        let alerts = build_alerts(&evaluation.hits, &batch, &self.grants, &self.grouping, now)?;
        Ok(Some(Raised {
            batch,
            alerts,
            activity: evaluation.activity,
        }))
    }

    /// Folds the relayed alerts of the groups `ownership` gives this instance into
    /// the ledger, as [`Detector::judge_prepared`] folds its own, and returns those
    /// the sinks must see now. Their tombstones go with the next state write.
    pub fn admit_relays(&self, ownership: &Ownership, now_ms: i64) -> Vec<Alert> {
        self.store.with(|s| {
            if s.relays.is_empty() {
                return Vec::new();
            }
            let relayed = s.relays.take_owned(|group| ownership.owns_group(group));
            s.alerts.admit(relayed, now_ms, self.grouping.window_ms)
        })
    }

    /// Runs the scheduled rules named in `due` at `now_ms`, over the whole grant set
    /// and state, and decides which findings are new for the grants `ownership`
    /// gives this instance. The findings decided are in the store already; their
    /// records are returned for persisting.
    pub async fn scheduled(
        &self,
        due: &[String],
        ownership: &Ownership,
        now_ms: i64,
    ) -> Result<Findings, DetectorError> {
        let state = self.store.with(|s| s.tables())?;
        let hits = self.engine.evaluate_scheduled(due, &state, now_ms).await?;
        let round = self
            .store
            .with(|s| findings::decide(&hits, &self.grants, s, ownership, now_ms))?;
        let (suppressed, alerts) = self.suppress(round.alerts);
        Ok(Findings {
            alerts: rollup::roll_up(alerts),
            suppressed,
            records: round.records,
        })
    }

    /// Every scheduled rule, by name.
    pub fn scheduled_rules(&self) -> Vec<String> {
        self.engine
            .scheduled_rules()
            .map(|r| r.name.clone())
            .collect()
    }

    /// Forgets the alerts whose window is over at `now_ms`, then returns those whose
    /// count grew since the sinks last saw them at least `every_ms` ago, marked as
    /// seen: sent again under the same id as updates. Only the alerts of the groups
    /// `ownership` gives this instance: another instance reports the others.
    pub fn updates_due(&self, now_ms: i64, every_ms: i64, ownership: &Ownership) -> Vec<Alert> {
        let keep_ms = self.grouping.window_ms;
        let owns = |group: &str| ownership.owns_group(group);
        self.store.with(|s| {
            s.alerts.prune(now_ms, keep_ms, owns);
            s.alerts.updates_due(now_ms, every_ms, owns)
        })
    }

    /// Every alert in its window with its cumulative count, by id.
    pub fn alerts(&self) -> Vec<Alert> {
        self.store.with(|s| s.alerts.alerts())
    }

    /// `(silenced, kept)`.
    fn suppress(&self, alerts: Vec<Alert>) -> (Vec<Alert>, Vec<Alert>) {
        if self.suppressions.is_empty() {
            return (Vec::new(), alerts);
        }
        alerts
            .into_iter()
            .partition(|a| self.suppressions.iter().any(|s| s.silences(a)))
    }
}
