//! A table whose contents are replaced between queries, so that rule plans are built
//! once and re-executed over each new batch (or grant set) without re-planning.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// Holds the current batches of one table.
#[derive(Debug)]
pub(super) struct SwapTable {
    schema: SchemaRef,
    batches: RwLock<Arc<Vec<RecordBatch>>>,
}

impl SwapTable {
    pub fn new(schema: SchemaRef) -> Arc<Self> {
        Arc::new(Self {
            schema,
            batches: RwLock::new(Arc::new(Vec::new())),
        })
    }

    /// Replaces the contents; later scans see the new batches.
    pub fn replace(&self, batches: Vec<RecordBatch>) {
        // A poisoned lock only means a panicking writer; the Arc inside is still whole.
        let mut slot = self.batches.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(batches);
    }

    fn current(&self) -> Arc<Vec<RecordBatch>> {
        Arc::clone(&self.batches.read().unwrap_or_else(|p| p.into_inner()))
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

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = self.current().as_ref().clone();
        let table = MemTable::try_new(Arc::clone(&self.schema), vec![batches])
            .map_err(|e| DataFusionError::Context("swap table".into(), Box::new(e)))?;
        table.scan(state, projection, filters, limit).await
    }
}
