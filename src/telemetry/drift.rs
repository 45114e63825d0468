//! The out-of-purpose share of each grant's actions over a sliding window of
//! processing time, in one-minute buckets.

use std::collections::{HashMap, VecDeque};

const BUCKET_MS: i64 = 60_000;

#[derive(Default)]
struct Buckets {
    /// (bucket start ms, actions, flagged), oldest first.
    buckets: VecDeque<(i64, u64, u64)>,
}

/// Per-grant windowed drift.
pub struct DriftWindow {
    window_ms: i64,
    grants: HashMap<String, Buckets>,
}

impl DriftWindow {
    /// A window of `window_ms` (rounded to whole minutes).
    pub fn new(window_ms: i64) -> Self {
        Self {
            window_ms: window_ms.max(BUCKET_MS),
            grants: HashMap::new(),
        }
    }

    /// Adds a batch's counts for `grant` at `now_ms`.
    pub fn record(&mut self, grant: &str, actions: u64, flagged: u64, now_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(BUCKET_MS);
        // Looked up before inserting: most batches meet grants already in the window,
        // and an entry needs an owned key.
        if !self.grants.contains_key(grant) {
            self.grants.insert(grant.to_owned(), Buckets::default());
        }
        let Some(entry) = self.grants.get_mut(grant) else {
            return;
        };
        match entry.buckets.back_mut() {
            Some(last) if last.0 == start => {
                last.1 += actions;
                last.2 += flagged;
            }
            _ => entry.buckets.push_back((start, actions, flagged)),
        }
    }

    /// The flagged share of `grant`'s actions in the window ending at `now_ms`; 0
    /// when it had none.
    pub fn ratio(&mut self, grant: &str, now_ms: i64) -> f64 {
        let Some(entry) = self.grants.get_mut(grant) else {
            return 0.0;
        };
        let oldest = now_ms - self.window_ms;
        while entry
            .buckets
            .front()
            .is_some_and(|b| b.0 + BUCKET_MS <= oldest)
        {
            entry.buckets.pop_front();
        }
        let (actions, flagged) = entry
            .buckets
            .iter()
            .fold((0, 0), |(a, f), b| (a + b.1, f + b.2));
        if actions == 0 {
            0.0
        } else {
            flagged as f64 / actions as f64
        }
    }
}

impl DriftWindow {
    /// The ratio of every grant with actions in the window ending at `now_ms`; grants
    /// whose window emptied are forgotten after reporting their 0.
    pub fn sweep(&mut self, now_ms: i64) -> Vec<(String, f64)> {
        let grants: Vec<String> = self.grants.keys().cloned().collect();
        let ratios: Vec<(String, f64)> = grants
            .into_iter()
            .map(|g| {
                let ratio = self.ratio(&g, now_ms);
                (g, ratio)
            })
            .collect();
        self.grants.retain(|_, b| !b.buckets.is_empty());
        ratios
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_over_the_window_and_expiry() {
        let mut w = DriftWindow::new(3_600_000);
        w.record("g", 90, 0, 0);
        w.record("g", 10, 10, 30_000);
        assert!((w.ratio("g", 60_000) - 0.1).abs() < 1e-9);
        w.record("g", 100, 50, 1_800_000);
        assert!((w.ratio("g", 1_800_000) - 0.3).abs() < 1e-9);
        // An hour after the first minute, only the later bucket remains.
        assert!((w.ratio("g", 3_660_000) - 0.5).abs() < 1e-9);
        assert_eq!(w.ratio("g", 9_000_000), 0.0);
        assert_eq!(w.ratio("unknown", 0), 0.0);
    }

    #[test]
    fn a_sweep_reports_each_tracked_grant_then_forgets_the_quiet_ones() {
        let mut w = DriftWindow::new(3_600_000);
        w.record("a", 10, 5, 0);
        w.record("b", 10, 0, 3_000_000);
        assert_eq!(
            sorted(w.sweep(3_000_000)),
            [("a".into(), 0.5), ("b".into(), 0.0)]
        );
        assert_eq!(
            sorted(w.sweep(3_700_000)),
            [("a".into(), 0.0), ("b".into(), 0.0)]
        );
        assert_eq!(sorted(w.sweep(3_700_000)), [("b".into(), 0.0)]);
    }

    fn sorted(mut v: Vec<(String, f64)>) -> Vec<(String, f64)> {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
