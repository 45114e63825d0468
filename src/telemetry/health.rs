//! Liveness and readiness flags shared between the pipeline and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Readiness: grants are loaded, the consumer is consuming with partitions assigned,
/// it is connected to a broker, and no sink is holding the pipeline back. Alive but
/// without partitions, cut off from every broker, or retrying a sink, it judges
/// nothing.
#[derive(Clone, Default)]
pub struct Health {
    grants_loaded: Arc<AtomicBool>,
    consuming: Arc<AtomicBool>,
    assigned: Arc<AtomicBool>,
    brokers_up: Arc<AtomicBool>,
    blocked: Arc<AtomicBool>,
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

    /// Records whether the group gave the consumer any partition.
    pub fn set_assigned(&self, assigned: bool) {
        self.assigned.store(assigned, Ordering::Relaxed);
    }

    /// Records whether the consumer is connected to some broker; returns what it was.
    pub fn set_brokers_up(&self, up: bool) -> bool {
        self.brokers_up.swap(up, Ordering::Relaxed)
    }

    /// Records whether a failing sink holds the pipeline back: nothing is judged
    /// meanwhile, whatever the broker state says (a broker outage met mid-delivery
    /// shows here first).
    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::Relaxed);
    }

    /// Ready to judge traffic.
    pub fn is_ready(&self) -> bool {
        self.grants_loaded.load(Ordering::Relaxed)
            && self.consuming.load(Ordering::Relaxed)
            && self.assigned.load(Ordering::Relaxed)
            && self.brokers_up.load(Ordering::Relaxed)
            && !self.blocked.load(Ordering::Relaxed)
    }
}
