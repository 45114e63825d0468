//! The out-of-purpose share of one grant's actions over a sliding window of
//! processing time, in one-minute buckets.

use std::collections::VecDeque;

const BUCKET_MS: i64 = 60_000;

/// One grant's windowed drift.
#[derive(Debug, Default)]
pub struct DriftWindow {
    /// (bucket start ms, actions, flagged), oldest first.
    buckets: VecDeque<(i64, u64, u64)>,
}

impl DriftWindow {
    /// Adds a batch's counts at `now_ms`.
    pub fn record(&mut self, actions: u64, flagged: u64, now_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(BUCKET_MS);
        match self.buckets.back_mut() {
            Some(last) if last.0 == start => {
                last.1 += actions;
                last.2 += flagged;
            }
            _ => {
                // Most grants act in a minute or two of a window: a first push
                // reserves four buckets (96 B a grant), one will do.
                if self.buckets.is_empty() {
                    self.buckets.reserve_exact(1);
                }
                self.buckets.push_back((start, actions, flagged));
            }
        }
    }

    /// The flagged share of the actions in the `window_ms` (whole minutes, at least
    /// one) ending at `now_ms`; 0 when there were none. Forgets older buckets.
    pub fn ratio(&mut self, now_ms: i64, window_ms: i64) -> f64 {
        let oldest = now_ms - window_ms.max(BUCKET_MS);
        while self
            .buckets
            .front()
            .is_some_and(|b| b.0 + BUCKET_MS <= oldest)
        {
            self.buckets.pop_front();
        }
        let (actions, flagged) = self
            .buckets
            .iter()
            .fold((0, 0), |(a, f), b| (a + b.1, f + b.2));
        if actions == 0 {
            0.0
        } else {
            flagged as f64 / actions as f64
        }
    }

    /// Whether no bucket is left (nothing to move the ratio until the next action).
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn ratio_over_the_window_and_expiry() {
        let mut w = DriftWindow::default();
        w.record(90, 0, 0);
        w.record(10, 10, 30_000);
        assert!((w.ratio(60_000, HOUR) - 0.1).abs() < 1e-9);
        w.record(100, 50, 1_800_000);
        assert!((w.ratio(1_800_000, HOUR) - 0.3).abs() < 1e-9);
        // An hour after the first minute, only the later bucket remains.
        assert!((w.ratio(3_660_000, HOUR) - 0.5).abs() < 1e-9);
        assert_eq!(w.ratio(9_000_000, HOUR), 0.0);
        assert!(w.is_empty());
        assert_eq!(DriftWindow::default().ratio(0, HOUR), 0.0);
    }
}
