//! A table whose contents are replaced between queries, so that rule plans are built
//! once and re-executed over each new batch (or grant set) without re-planning.
//!
//! Its scan is a [`SwapExec`] that reads the table's batches when executed, not when
//! planned: a physical plan made once at start serves every batch.

use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use crate::columns::Columns;

type Slot = Arc<RwLock<Arc<Vec<RecordBatch>>>>;

fn read(slot: &Slot) -> Arc<Vec<RecordBatch>> {
    // A poisoned lock only means a panicking writer; the Arc inside is still whole.
    Arc::clone(&slot.read().unwrap_or_else(|p| p.into_inner()))
}

/// Holds the current batches of one table.
#[derive(Debug)]
pub(super) struct SwapTable {
    schema: SchemaRef,
    batches: Slot,
}

impl SwapTable {
    pub fn new(schema: SchemaRef) -> Arc<Self> {
        Arc::new(Self {
            schema,
            batches: Arc::new(RwLock::new(Arc::new(Vec::new()))),
        })
    }

    /// Replaces the contents; later executions see the new batches.
    pub fn replace(&self, batches: Vec<RecordBatch>) {
        let mut slot = self.batches.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(batches);
    }

    /// The columns of this table that `plans` read, or `None` if none scans it.
    pub fn read_by<'p>(
        &self,
        plans: impl IntoIterator<Item = &'p Arc<dyn ExecutionPlan>>,
    ) -> Option<Columns> {
        let mut read = vec![false; self.schema.fields().len()];
        let mut scanned = false;
        for plan in plans {
            let _ = plan.apply(|node| {
                if let Some(scan) = node.downcast_ref::<SwapExec>()
                    && Arc::ptr_eq(&scan.batches, &self.batches)
                {
                    scanned = true;
                    match &scan.projection {
                        Some(columns) => {
                            for &i in columns {
                                if let Some(flag) = read.get_mut(i) {
                                    *flag = true;
                                }
                            }
                        }
                        None => read.fill(true),
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        scanned.then(|| Columns::only(read))
    }
}

#[async_trait]
impl TableProvider for SwapTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    /// Filters and limits are applied above the scan (the default pushdown answer is
    /// "unsupported"), so the scan only projects.
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Arc::new(SwapExec {
            batches: Arc::clone(&self.batches),
            projection: projection.cloned(),
            schema,
            properties: Arc::new(properties),
        }))
    }
}

/// Scans a [`SwapTable`]'s batches as they are at execution.
#[derive(Debug)]
pub(super) struct SwapExec {
    batches: Slot,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for SwapExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SwapExec: projection={:?}", self.projection)
    }
}

impl ExecutionPlan for SwapExec {
    fn name(&self) -> &str {
        "SwapExec"
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let batches = read(&self.batches).as_ref().clone();
        let stream =
            MemoryStream::try_new(batches, Arc::clone(&self.schema), self.projection.clone())?;
        Ok(Box::pin(stream))
    }
}
