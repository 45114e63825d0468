//! The rule engine: one DataFusion session whose tables are swapped per batch, with
//! every per-batch rule planned and optimized once at start.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::error::{EngineError, RuleError};
use super::rule::{Rule, Schedule};
use super::swap::SwapTable;
use super::udf;
use crate::decode::schema;
use crate::grants::GrantTables;
use crate::grants::tables::{credentials_schema, grants_schema, scopes_schema};

/// Columns every event rule must return (DESIGN §6).
const REQUIRED_COLUMNS: [&str; 4] = ["grant_id", "credential_id", "reason", "event_id"];

struct Planned {
    rule: Arc<Rule>,
    plan: LogicalPlan,
}

/// The rows one rule returned for one batch.
#[derive(Debug)]
pub struct RuleHits {
    /// The rule.
    pub rule: Arc<Rule>,
    /// Its result rows (at least the required columns).
    pub rows: Vec<RecordBatch>,
}

/// Runs the per-batch rules over batches of actions and the current grants.
pub struct RuleEngine {
    ctx: SessionContext,
    actions: Arc<SwapTable>,
    grants: Arc<SwapTable>,
    credentials: Arc<SwapTable>,
    scopes: Arc<SwapTable>,
    event_rules: Vec<Planned>,
}

impl RuleEngine {
    /// Registers the tables and UDFs, then plans every per-batch rule; a rule that does
    /// not plan or lacks a required column is refused here, at start.
    pub async fn new(rules: &[Rule], grants: GrantTables) -> Result<Self, Vec<RuleError>> {
        // Batches are small and rules many: one partition per rule avoids repartition
        // overhead; rules themselves run concurrently.
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udf(udf::action_matches());
        ctx.register_udf(udf::array_subset());
        let engine = Self {
            actions: SwapTable::new(schema::actions()),
            grants: SwapTable::new(grants_schema()),
            credentials: SwapTable::new(credentials_schema()),
            scopes: SwapTable::new(scopes_schema()),
            ctx,
            event_rules: Vec::new(),
        };
        engine.set_grants(grants);
        let mut errors = Vec::new();
        for (name, table) in [
            ("actions", &engine.actions),
            ("grants", &engine.grants),
            ("grant_credentials", &engine.credentials),
            ("grant_scopes", &engine.scopes),
        ] {
            if let Err(e) = engine.ctx.register_table(name, Arc::clone(table) as _) {
                errors.push(RuleError::Sql {
                    file: "builtin".into(),
                    rule: name.into(),
                    message: e.to_string(),
                });
            }
        }
        let mut event_rules = Vec::new();
        for rule in rules.iter().filter(|r| r.schedule == Schedule::PerBatch) {
            match engine.plan(rule).await {
                Ok(plan) => event_rules.push(Planned {
                    rule: Arc::new(rule.clone()),
                    plan,
                }),
                Err(message) => errors.push(RuleError::Sql {
                    file: rule.source.clone(),
                    rule: rule.name.clone(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Self {
                event_rules,
                ..engine
            })
        } else {
            Err(errors)
        }
    }

    async fn plan(&self, rule: &Rule) -> Result<LogicalPlan, String> {
        let df = self.ctx.sql(&rule.sql).await.map_err(|e| e.to_string())?;
        let plan = df.into_optimized_plan().map_err(|e| e.to_string())?;
        let missing: Vec<&str> = REQUIRED_COLUMNS
            .into_iter()
            .filter(|c| plan.schema().field_with_unqualified_name(c).is_err())
            .collect();
        if missing.is_empty() {
            Ok(plan)
        } else {
            Err(format!(
                "result lacks required column(s): {}",
                missing.join(", ")
            ))
        }
    }

    /// Replaces the grant tables; the next batch is judged against them.
    pub fn set_grants(&self, tables: GrantTables) {
        self.grants.replace(vec![tables.grants]);
        self.credentials.replace(vec![tables.grant_credentials]);
        self.scopes.replace(vec![tables.grant_scopes]);
    }

    /// The per-batch rules, in evaluation order.
    pub fn event_rules(&self) -> impl Iterator<Item = &Rule> {
        self.event_rules.iter().map(|p| p.rule.as_ref())
    }

    /// Runs every per-batch rule over `batch`; returns the rules that matched rows.
    /// Not re-entrant: callers evaluate one batch at a time.
    pub async fn evaluate(&self, batch: RecordBatch) -> Result<Vec<RuleHits>, EngineError> {
        self.actions.replace(vec![batch]);
        let state = self.ctx.state();
        let runs = self
            .event_rules
            .iter()
            .map(|planned| execute(&state, planned));
        let results = futures::future::try_join_all(runs).await;
        self.actions.replace(Vec::new());
        Ok(results?.into_iter().flatten().collect())
    }
}

async fn execute(state: &SessionState, planned: &Planned) -> Result<Option<RuleHits>, EngineError> {
    let fail = |source| EngineError::Execute {
        rule: planned.rule.name.clone(),
        source,
    };
    // The plan is already optimized: go straight to physical planning.
    let physical = state
        .query_planner()
        .create_physical_plan(&planned.plan, state)
        .await
        .map_err(fail)?;
    let rows = datafusion::physical_plan::collect(physical, state.task_ctx())
        .await
        .map_err(fail)?;
    let rows: Vec<RecordBatch> = rows.into_iter().filter(|b| b.num_rows() > 0).collect();
    Ok((!rows.is_empty()).then(|| RuleHits {
        rule: Arc::clone(&planned.rule),
        rows,
    }))
}
