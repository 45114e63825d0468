//! Liveness and readiness flags shared between the pipeline and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Readiness: grants are loaded and the consumer is consuming.
#[derive(Clone, Default)]
pub struct Health {
    grants_loaded: Arc<AtomicBool>,
    consuming: Arc<AtomicBool>,
}

impl Health {
    /// Records whether a grant set is in force.
    pub fn set_grants_loaded(&self, loaded: bool) {
        self.grants_loaded.store(loaded, Ordering::Relaxed);
    }

    /// Records whether the consumer is receiving from the brokers.
    pub fn set_consuming(&self, consuming: bool) {
        self.consuming.store(consuming, Ordering::Relaxed);
    }

    /// Ready to judge traffic.
    pub fn is_ready(&self) -> bool {
        self.grants_loaded.load(Ordering::Relaxed) && self.consuming.load(Ordering::Relaxed)
    }
}
