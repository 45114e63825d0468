//! The rule engine: one DataFusion session whose tables are swapped per batch, with
//! every per-batch rule planned and optimized once at start.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::prelude::{SessionConfig, SessionContext};
use tokio::sync::watch;

use datafusion::arrow::array::{Array, AsArray};

use super::error::{EngineError, RuleError};
use super::prepare::{GrantView, Prepared, Preparer, Reads, prepare};
use super::rule::Severity;
use super::rule::{Rule, Schedule};
use super::swap::SwapTable;
use super::udf::{self, Clock};
use crate::activity::{BatchActivity, Flagged};
use crate::columns::Columns;
use crate::decode::schema;
use crate::grants::tables::{credentials_schema, grants_schema, scopes_schema};
use crate::grants::{GrantColumns, GrantIndex, GrantTables, action_scopes_schema};
use crate::state::{
    StateTables, credential_activity_schema, daily_amounts_schema, grant_activity_schema,
    rate_windows_schema,
};

/// Columns every event rule must return (DESIGN §6).
const REQUIRED_COLUMNS: [&str; 4] = ["grant_id", "credential_id", "reason", "event_id"];

/// Columns every scheduled rule must return: findings are about grants, not events.
const SCHEDULED_COLUMNS: [&str; 2] = ["grant_id", "reason"];

/// A rule with its physical plan, made once; each execution runs a reset copy.
struct Planned {
    rule: Arc<Rule>,
    plan: Arc<dyn ExecutionPlan>,
}

/// The rows one rule returned for one batch.
#[derive(Debug)]
pub struct RuleHits {
    /// The rule.
    pub rule: Arc<Rule>,
    /// Its result rows (at least the required columns).
    pub rows: Vec<RecordBatch>,
}

/// What one batch yielded: rule rows and grant activity.
#[derive(Debug)]
pub struct Evaluation {
    /// The rules that matched, with their rows.
    pub hits: Vec<RuleHits>,
    /// Per-grant activity, for the drift metrics.
    pub activity: BatchActivity,
}

/// The state tables, swapped in before each evaluation.
struct StateSlots {
    grant_activity: Arc<SwapTable>,
    credential_activity: Arc<SwapTable>,
    rate_windows: Arc<SwapTable>,
    daily_amounts: Arc<SwapTable>,
}

impl StateSlots {
    fn new() -> Self {
        Self {
            grant_activity: SwapTable::new(grant_activity_schema()),
            credential_activity: SwapTable::new(credential_activity_schema()),
            rate_windows: SwapTable::new(rate_windows_schema()),
            daily_amounts: SwapTable::new(daily_amounts_schema()),
        }
    }

    fn set(&self, tables: &StateTables) {
        self.grant_activity
            .replace(vec![tables.grant_activity.clone()]);
        self.credential_activity
            .replace(vec![tables.credential_activity.clone()]);
        self.rate_windows
            .replace(vec![tables.grant_rate_windows.clone()]);
        self.daily_amounts
            .replace(vec![tables.grant_daily_amounts.clone()]);
    }
}

/// Runs the per-batch rules over batches of actions, the current grants and the state
/// before the batch, and the scheduled rules over the grants and the state.
pub struct RuleEngine {
    ctx: SessionContext,
    clock: Clock,
    actions: Arc<SwapTable>,
    /// `action_scopes` of the batch; made only when some query reads it.
    action_scopes: Arc<SwapTable>,
    /// What the per-batch rules read of the batch's tables.
    reads: Arc<Reads>,
    grants: Arc<SwapTable>,
    credentials: Arc<SwapTable>,
    scopes: Arc<SwapTable>,
    state: StateSlots,
    event_rules: Vec<Planned>,
    scheduled_rules: Vec<Planned>,
    /// The grant set in force, which scheduled rules see whole; a batch sees its
    /// slice, made by a [`Preparer`].
    view: watch::Sender<Arc<GrantView>>,
}

impl RuleEngine {
    /// Registers the tables and UDFs, then plans every per-batch rule; a rule that does
    /// not plan or lacks a required column is refused here, at start.
    pub async fn new(rules: &[Rule], grants: GrantTables) -> Result<Self, Vec<RuleError>> {
        // Batches are small and rules many: one partition per rule avoids repartition
        // overhead; rules themselves run concurrently.
        let mut config = SessionConfig::new()
            .with_target_partitions(1)
            .with_information_schema(false);
        // Physical plans are made once and re-executed: no operator may carry a
        // filter learned from one batch into the next.
        config
            .options_mut()
            .optimizer
            .enable_dynamic_filter_pushdown = false;
        let ctx = SessionContext::new_with_config(config);
        let clock = Clock::default();
        udf::register(&ctx, &clock);
        let mut engine = Self {
            clock,
            state: StateSlots::new(),
            scheduled_rules: Vec::new(),
            view: watch::Sender::new(Arc::new(GrantView {
                tables: grants.clone(),
                index: GrantIndex::default(),
            })),
            actions: SwapTable::new(schema::actions()),
            action_scopes: SwapTable::new(action_scopes_schema()),
            reads: Arc::default(),
            grants: SwapTable::new(grants_schema()),
            credentials: SwapTable::new(credentials_schema()),
            scopes: SwapTable::new(scopes_schema()),
            ctx,
            event_rules: Vec::new(),
        };
        let mut errors = Vec::new();
        if let Err(e) = engine.set_grants(grants) {
            errors.push(RuleError::Sql {
                file: "builtin".into(),
                rule: "grants".into(),
                message: e.to_string(),
            });
        }
        for (name, table) in [
            ("actions", &engine.actions),
            ("action_scopes", &engine.action_scopes),
            ("grants", &engine.grants),
            ("grant_credentials", &engine.credentials),
            ("grant_scopes", &engine.scopes),
            ("grant_activity", &engine.state.grant_activity),
            ("credential_activity", &engine.state.credential_activity),
            ("grant_rate_windows", &engine.state.rate_windows),
            ("grant_daily_amounts", &engine.state.daily_amounts),
        ] {
            if let Err(e) = engine.ctx.register_table(name, Arc::clone(table) as _) {
                errors.push(RuleError::Sql {
                    file: "builtin".into(),
                    rule: name.into(),
                    message: e.to_string(),
                });
            }
        }
        let (mut event_rules, mut scheduled_rules) = (Vec::new(), Vec::new());
        for rule in rules {
            match engine.plan(rule).await {
                Ok(plan) => {
                    let planned = Planned {
                        rule: Arc::new(rule.clone()),
                        plan,
                    };
                    match rule.schedule {
                        Schedule::PerBatch => event_rules.push(planned),
                        Schedule::Every(_) => scheduled_rules.push(planned),
                    }
                }
                Err(message) => errors.push(RuleError::Sql {
                    file: rule.source.clone(),
                    rule: rule.name.clone(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Self {
                reads: Arc::new(engine.reads_of(&event_rules)),
                event_rules,
                scheduled_rules,
                ..engine
            })
        } else {
            Err(errors)
        }
    }

    /// The physical plan of an optimized logical plan, made once. The tables scan as
    /// [`SwapExec`](super::swap::SwapExec)s, which read their batches when executed.
    async fn physical(&self, plan: &LogicalPlan) -> Result<Arc<dyn ExecutionPlan>, String> {
        let state = self.ctx.state();
        state
            .query_planner()
            .create_physical_plan(plan, &state)
            .await
            .map_err(|e| e.to_string())
    }

    /// What `rules` read of the tables a batch is prepared into.
    fn reads_of(&self, rules: &[Planned]) -> Reads {
        let plans = || rules.iter().map(|p| &p.plan);
        let read = |table: &SwapTable| table.read_by(plans()).unwrap_or_else(Columns::none);
        Reads {
            grants: GrantColumns {
                grants: read(&self.grants),
                grant_credentials: read(&self.credentials),
                grant_scopes: read(&self.scopes),
            },
            action_scopes: self.action_scopes.read_by(plans()),
        }
    }

    /// The rule's physical plan.
    async fn plan(&self, rule: &Rule) -> Result<Arc<dyn ExecutionPlan>, String> {
        let df = self.ctx.sql(&rule.sql).await.map_err(|e| e.to_string())?;
        let plan = df.into_optimized_plan().map_err(|e| e.to_string())?;
        // A scheduled rule's group key names its own columns (there is no event to
        // read them from).
        let required: Vec<&str> = match rule.schedule {
            Schedule::PerBatch => REQUIRED_COLUMNS.to_vec(),
            Schedule::Every(_) => SCHEDULED_COLUMNS
                .into_iter()
                .chain(rule.group_by.iter().map(String::as_str))
                .collect(),
        };
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|c| plan.schema().field_with_unqualified_name(c).is_err())
            .collect();
        if missing.is_empty() {
            self.physical(&plan).await
        } else {
            Err(format!(
                "result lacks required column(s): {}",
                missing.join(", ")
            ))
        }
    }

    /// Replaces the grant tables; the next batch is judged against them.
    pub fn set_grants(&mut self, tables: GrantTables) -> Result<(), EngineError> {
        let view = GrantView::new(tables)?;
        self.show_grants(&view.tables);
        self.view.send_replace(Arc::new(view));
        Ok(())
    }

    /// Prepares batches against the grants in force, on any task; a batch prepared
    /// before [`RuleEngine::set_grants`] is prepared again when evaluated.
    pub fn preparer(&self) -> Preparer {
        Preparer {
            view: self.view.subscribe(),
            reads: Arc::clone(&self.reads),
        }
    }

    /// Puts `tables` in the grant tables' place for the next execution.
    fn show_grants(&self, tables: &GrantTables) {
        self.grants.replace(vec![tables.grants.clone()]);
        self.credentials
            .replace(vec![tables.grant_credentials.clone()]);
        self.scopes.replace(vec![tables.grant_scopes.clone()]);
    }

    /// The per-batch rules, in evaluation order.
    pub fn event_rules(&self) -> impl Iterator<Item = &Rule> {
        self.event_rules.iter().map(|p| p.rule.as_ref())
    }

    /// The scheduled rules.
    pub fn scheduled_rules(&self) -> impl Iterator<Item = &Rule> {
        self.scheduled_rules.iter().map(|p| p.rule.as_ref())
    }

    /// Runs the scheduled rules named in `due` over the grants and `state`, with
    /// `now()` answering `now_ms`.
    pub async fn evaluate_scheduled(
        &self,
        due: &[String],
        state: &StateTables,
        now_ms: i64,
    ) -> Result<Vec<RuleHits>, EngineError> {
        self.clock.set(now_ms);
        self.state.set(state);
        let view = Arc::clone(&self.view.borrow());
        self.show_grants(&view.tables);
        let task = self.ctx.task_ctx();
        let mut hits = Vec::new();
        for planned in self
            .scheduled_rules
            .iter()
            .filter(|p| due.contains(&p.rule.name))
        {
            let rows = execute(Arc::clone(&task), &planned.plan, &planned.rule.name).await?;
            hits.push(RuleHits {
                rule: Arc::clone(&planned.rule),
                rows,
            });
        }
        Ok(hits)
    }

    /// Runs every per-batch rule over `batch` and counts its activity: prepares it,
    /// then [`RuleEngine::evaluate_prepared`].
    pub async fn evaluate(
        &self,
        batch: RecordBatch,
        state: impl FnOnce(&[&str]) -> Result<StateTables, ArrowError>,
    ) -> Result<Evaluation, EngineError> {
        let view = Arc::clone(&self.view.borrow());
        let prepared = prepare(view, &self.reads, batch)?;
        self.evaluate_prepared(prepared, state).await
    }

    /// Runs every per-batch rule over a prepared batch and flags its activity. The
    /// rules see the grants bound to the batch's credentials (all their rows) and the
    /// state of those grants as known before the batch, which `state` makes from
    /// their ids: a batch costs the same with 100 grants or 100,000. Not re-entrant:
    /// callers evaluate one batch at a time.
    pub async fn evaluate_prepared(
        &self,
        prepared: Prepared,
        state: impl FnOnce(&[&str]) -> Result<StateTables, ArrowError>,
    ) -> Result<Evaluation, EngineError> {
        let current = Arc::clone(&self.view.borrow());
        let prepared = if Arc::ptr_eq(&prepared.view, &current) {
            prepared
        } else {
            prepare(current, &self.reads, prepared.batch)?
        };
        let state = state(&prepared.grants.grant_ids())?;
        self.clock.set(chrono::Utc::now().timestamp_millis());
        self.state.set(&state);
        self.show_grants(&prepared.grants);
        if let Some(matches) = prepared.action_scopes {
            self.action_scopes.replace(vec![matches]);
        }
        self.actions.replace(vec![prepared.batch]);
        let hits = self.run_all().await;
        self.actions.replace(Vec::new());
        self.action_scopes.replace(Vec::new());
        let hits = hits?;
        let mut activity = prepared.activity;
        activity.flag(&flagged(&hits));
        Ok(Evaluation { hits, activity })
    }

    /// The hits of every per-batch rule over the tables as they stand.
    async fn run_all(&self) -> Result<Vec<RuleHits>, EngineError> {
        let task = self.ctx.task_ctx();
        // One task per query, so that the rules of a batch share both cores.
        let spawn = |plan: &Arc<dyn ExecutionPlan>, name: &str| {
            let (plan, task, name) = (Arc::clone(plan), Arc::clone(&task), name.to_owned());
            tokio::spawn(async move { execute(task, &plan, &name).await })
        };
        let rules: Vec<_> = self
            .event_rules
            .iter()
            .map(|planned| spawn(&planned.plan, &planned.rule.name))
            .collect();
        let mut hits = Vec::new();
        for (planned, task) in self.event_rules.iter().zip(rules) {
            let rows = joined(task.await)?;
            if !rows.is_empty() {
                hits.push(RuleHits {
                    rule: Arc::clone(&planned.rule),
                    rows,
                });
            }
        }
        Ok(hits)
    }
}

/// A spawned query's rows, or why it failed (a panic in a query is a bug: reported,
/// not propagated).
fn joined(
    result: Result<Result<Vec<RecordBatch>, EngineError>, tokio::task::JoinError>,
) -> Result<Vec<RecordBatch>, EngineError> {
    result.unwrap_or_else(|error| Err(EngineError::Panicked(error.to_string())))
}

/// Distinct events flagged by rules above `info`, per (grant, credential).
fn flagged(hits: &[RuleHits]) -> Flagged<'_> {
    let mut flagged = Flagged::default();
    for hit in hits.iter().filter(|h| h.rule.severity > Severity::Info) {
        for rows in &hit.rows {
            let column = |name| {
                rows.column_by_name(name)
                    .and_then(|c| c.as_string_opt::<i32>())
            };
            let (Some(grants), Some(credentials), Some(events)) = (
                column("grant_id"),
                column("credential_id"),
                column("event_id"),
            ) else {
                continue;
            };
            for row in 0..rows.num_rows() {
                if grants.is_null(row) || credentials.is_null(row) || events.is_null(row) {
                    continue;
                }
                flagged
                    .entry((grants.value(row), credentials.value(row)))
                    .or_default()
                    .insert(events.value(row));
            }
        }
    }
    flagged
}

/// Executes a physical plan over the current tables; empty batches are dropped.
/// Plans are never made per batch (planning costs as much as running a rule): a batch
/// only resets the plan's operators (a hash join's build side, a sort's state).
async fn execute(
    task: Arc<TaskContext>,
    plan: &Arc<dyn ExecutionPlan>,
    name: &str,
) -> Result<Vec<RecordBatch>, EngineError> {
    let fail = |source| EngineError::Execute {
        rule: name.to_owned(),
        source,
    };
    let physical = reset_plan_states(Arc::clone(plan)).map_err(fail)?;
    let rows = datafusion::physical_plan::collect(physical, task)
        .await
        .map_err(fail)?;
    Ok(rows.into_iter().filter(|b| b.num_rows() > 0).collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::decode::native_batch;
    use crate::grants;
    use crate::rules::load_rules;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scenario")
            .join(name)
    }

    /// The scenario's grants, an engine with the built-in pack over them, and its
    /// events as one batch.
    async fn scenario() -> (grants::GrantSet, RuleEngine, RecordBatch) {
        let grants = grants::load_paths(&[fixture("grants.yaml")], Duration::from_secs(86_400))
            .expect("grants");
        let rules = load_rules(&[]).expect("rules");
        let engine = RuleEngine::new(&rules, GrantTables::build(&grants).expect("tables"))
            .await
            .expect("plan");
        let events = std::fs::read_to_string(fixture("events.jsonl")).expect("events");
        (grants, engine, native_batch(events.lines()))
    }

    /// The built-in pack over the scenario: the activity it records, and plans that
    /// re-execute. (The alerts it raises: `detect::tests`.)
    #[tokio::test]
    async fn the_scenario_records_its_activity_and_plans_re_execute() {
        let (_grants, engine, batch) = scenario().await;
        let store = crate::state::StateStore::default();
        let state = |grants: &[&str]| store.tables_for(grants);
        let evaluation = engine
            .evaluate(batch.clone(), state)
            .await
            .expect("evaluate");

        // Activity: 12 acme actions, 5 flagged above info (the emergency one is info),
        // all three scopes used; one action by an unbound credential.
        let activity = &evaluation.activity;
        let acme = activity
            .iter()
            .find(|g| g.grant_id == "acme-payroll-payouts")
            .expect("acme");
        assert_eq!((acme.actions, acme.flagged), (12, 5));
        // In the grant's order: the emergency scope comes last.
        assert_eq!(
            acme.scopes_used.iter().collect::<Vec<_>>(),
            [
                "POST /v1/payouts",
                "GET /v1/payouts/*",
                "POST /v1/payouts/*/retry"
            ]
        );
        assert_eq!(activity.unbound, 1);

        // Plans are made once and re-executed: the same batch again yields the same
        // rows, and a clean batch yields none (no join keeps the last build side).
        let rows = |e: &Evaluation| -> Vec<(String, usize)> {
            e.hits
                .iter()
                .map(|h| {
                    (
                        h.rule.name.clone(),
                        h.rows.iter().map(RecordBatch::num_rows).sum(),
                    )
                })
                .collect()
        };
        let again = engine.evaluate(batch.clone(), state).await.expect("again");
        assert_eq!(rows(&again), rows(&evaluation));
        let clean = engine
            .evaluate(batch.slice(0, 2), state)
            .await
            .expect("clean");
        assert_eq!(rows(&clean), Vec::<(String, usize)>::new());
        assert_eq!(clean.activity.iter().next().expect("acted").actions, 2);
    }

    /// Batches are prepared on the reading task, ahead of the loop: one prepared
    /// before a reload is judged by the grants in force when it is evaluated.
    #[tokio::test]
    async fn a_batch_prepared_before_a_reload_is_judged_by_the_new_grants() {
        let (_, mut engine, batch) = scenario().await;
        let store = crate::state::StateStore::default();
        let state = |grants: &[&str]| store.tables_for(grants);
        let preparer = engine.preparer();

        let before = preparer.prepare(batch.clone()).expect("prepare");
        let judged = engine.evaluate_prepared(before, state).await.expect("eval");
        assert!(!judged.activity.is_empty());

        let stale = preparer.prepare(batch.clone()).expect("prepare");
        let none = grants::GrantSet::default();
        engine
            .set_grants(GrantTables::build(&none).expect("tables"))
            .expect("set");
        let judged = engine.evaluate_prepared(stale, state).await.expect("eval");
        assert!(judged.activity.is_empty());
        assert_eq!(judged.activity.unbound, batch.num_rows() as u64);
    }

    /// A prepared batch copies only the columns the plans scan: a column of
    /// `action_scopes` that no built-in rule reads is left null, and one a rule of
    /// its own reads is there.
    #[tokio::test]
    async fn a_batch_holds_the_columns_its_rules_read() {
        let (grants, engine, batch) = scenario().await;
        let column = |reads: &Reads, name: &str| {
            let i = action_scopes_schema().index_of(name).expect("column");
            reads.action_scopes.as_ref().expect("scanned").wanted(i)
        };
        assert!(column(&engine.reads, "event_id"));
        assert!(!column(&engine.reads, "actor"));

        let mut rules = load_rules(&[]).expect("rules");
        rules.push(
            crate::rules::Rule::parse(
                "-- rule: agents\n-- severity: low\n-- summary: s\n\
                 SELECT grant_id, credential_id, actor AS reason, event_id FROM action_scopes",
                Path::new("x/agents.sql"),
            )
            .expect("header"),
        );
        let engine = RuleEngine::new(&rules, GrantTables::build(&grants).expect("tables"))
            .await
            .expect("plan");
        assert!(column(&engine.reads, "actor"));
        let store = crate::state::StateStore::default();
        let evaluation = engine
            .evaluate(batch, |g: &[&str]| store.tables_for(g))
            .await
            .expect("evaluate");
        let agents = evaluation
            .hits
            .iter()
            .find(|h| h.rule.name == "agents")
            .expect("agents");
        let reasons: usize = agents
            .rows
            .iter()
            .map(|b| {
                let reason = b.column_by_name("reason").expect("reason");
                reason.len() - reason.null_count()
            })
            .sum();
        assert!(reasons > 0);
    }

    #[tokio::test]
    async fn a_rule_without_required_columns_is_refused_at_start() {
        let rule = crate::rules::Rule::parse(
            "-- rule: broken\n-- severity: low\n-- summary: s\nSELECT event_id FROM actions",
            Path::new("x/broken.sql"),
        )
        .expect("header");
        let errors = RuleEngine::new(
            &[rule],
            GrantTables::build(&grants::GrantSet::default()).expect("tables"),
        )
        .await
        .err()
        .expect("refused");
        let message = errors[0].to_string();
        assert!(
            message.contains("x/broken.sql") && message.contains("grant_id, credential_id, reason"),
            "{message}"
        );
    }
}
