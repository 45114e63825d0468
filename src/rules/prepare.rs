//! What a batch is judged against that depends on the grants alone: its slice of the
//! grant tables, its `action_scopes` and its grant activity. None reads the state, so
//! the reading task makes them while the loop judges the batch before; on the loop's
//! thread they were a third of its work per batch, with both rule workers idle
//! meanwhile.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use tokio::sync::watch;

use crate::activity::BatchActivity;
use crate::columns::Columns;
use crate::grants::{GrantColumns, GrantIndex, GrantTables};

/// The grant set in force: the whole tables (scheduled rules see them) and where each
/// grant's rows are.
#[derive(Debug)]
pub(super) struct GrantView {
    pub(super) tables: GrantTables,
    pub(super) index: GrantIndex,
}

impl GrantView {
    pub(super) fn new(tables: GrantTables) -> Result<Self, ArrowError> {
        Ok(Self {
            index: GrantIndex::new(&tables)?,
            tables,
        })
    }
}

/// A batch of actions with what the grants in force say about it.
pub struct Prepared {
    pub(super) batch: RecordBatch,
    /// The grant tables restricted to the batch's grants.
    pub(super) grants: GrantTables,
    /// `None` when no query reads `action_scopes`.
    pub(super) action_scopes: Option<RecordBatch>,
    /// Its grant activity, with nothing flagged yet.
    pub(super) activity: BatchActivity,
    /// What it was made from: a batch prepared before a reload is made again.
    pub(super) view: Arc<GrantView>,
}

impl Prepared {
    /// The actions.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }
}

/// Prepares batches against the grant set the engine has in force, from any task.
#[derive(Clone)]
pub struct Preparer {
    pub(super) view: watch::Receiver<Arc<GrantView>>,
    pub(super) reads: Arc<Reads>,
}

impl Preparer {
    /// `batch` with its slice of the grants in force, its activity (and its
    /// `action_scopes`).
    pub fn prepare(&self, batch: RecordBatch) -> Result<Prepared, ArrowError> {
        let view = Arc::clone(&self.view.borrow());
        prepare(view, &self.reads, batch)
    }
}

/// What the per-batch rules read of a batch's tables, known from their plans: a
/// prepared batch holds only that (see [`Columns`]).
#[derive(Debug, Default)]
pub(super) struct Reads {
    pub(super) grants: GrantColumns,
    /// `None` when no per-batch rule scans `action_scopes`: it is not made at all.
    pub(super) action_scopes: Option<Columns>,
}

/// `batch` prepared against `view`.
pub(super) fn prepare(
    view: Arc<GrantView>,
    reads: &Reads,
    batch: RecordBatch,
) -> Result<Prepared, ArrowError> {
    let grants = view.index.slice(&view.tables, &batch, &reads.grants)?;
    let matches = view.index.scope_matches(&batch)?;
    let activity = BatchActivity::of(&batch, &view.tables, &view.index, &matches)?;
    let action_scopes = match &reads.action_scopes {
        Some(read) => Some(matches.action_scopes(&view.tables, &batch, read)?),
        None => None,
    };
    Ok(Prepared {
        batch,
        grants,
        action_scopes,
        activity,
        view,
    })
}
