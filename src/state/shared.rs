//! The state store as the detector and the state topic share it: the topic's reader
//! merges other instances' records into it while the loop judges batches against it.

use std::sync::{Arc, Mutex};

use super::store::StateStore;

/// A [`StateStore`] behind a lock; cheap to clone (every clone is the same store).
#[derive(Debug, Clone, Default)]
pub struct SharedStore(Arc<Mutex<StateStore>>);

impl SharedStore {
    /// Runs `f` on the store. A closure, so the lock is never held across an await.
    pub fn with<R>(&self, f: impl FnOnce(&mut StateStore) -> R) -> R {
        // A poisoned lock only means a panicking holder; the maps are still whole.
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
