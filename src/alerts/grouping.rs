//! How rule rows become alerts: which events share one.

use super::Routes;

/// Events of one rule share an alert when their group keys agree (an action by its
/// route template) and they fall in the same dedup window.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// `alerts.dedup_window` in milliseconds.
    pub window_ms: i64,
    /// What `{id}` stands for in route templates.
    pub routes: Routes,
}

impl Default for Grouping {
    /// The defaults of `[alerts]`: an hour, the built-in identifier shapes.
    fn default() -> Self {
        Self {
            window_ms: 3_600_000,
            routes: Routes::default(),
        }
    }
}
