//! The per-grant drift metrics (DESIGN §8): label values come only from the grant
//! set, so series are bounded by the number of grants, never by event values.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::drift::DriftWindow;
use super::metrics::{GrantLabel, GrantPartnerLabels, Metrics, ScopeStateLabels, VerdictLabels};
use crate::grants::{Grant, GrantSet};
use crate::rules::BatchActivity;

/// Drift gauges of grants without new actions change only as minutes leave the
/// window: they are refreshed this often, not every batch (refreshing every grant on
/// every batch cost more than judging the batch, with 10,000 grants).
const DRIFT_SWEEP: Duration = Duration::from_secs(10);

/// Keeps the state behind the grant gauges: the drift window and scopes used.
pub struct GrantMetrics {
    metrics: Metrics,
    drift: DriftWindow,
    swept: Option<Instant>,
    scopes_used: HashMap<String, BTreeSet<String>>,
    /// Grants of the set in force, to drop the gauges of grants a reload removed.
    loaded: HashMap<String, String>,
}

impl GrantMetrics {
    /// Drift is measured over `drift_window_ms` of processing time.
    pub fn new(metrics: Metrics, drift_window_ms: i64) -> Self {
        Self {
            metrics,
            drift: DriftWindow::new(drift_window_ms),
            swept: None,
            scopes_used: HashMap::new(),
            loaded: HashMap::new(),
        }
    }

    /// Sets the gauges that come from the grants themselves, and removes those of
    /// grants no longer in the set (counters stay: they are history).
    pub fn loaded(&mut self, grants: &GrantSet) {
        let previous = std::mem::take(&mut self.loaded);
        for (id, partner) in previous {
            if grants.get(&id).is_some() {
                continue;
            }
            let m = &self.metrics;
            let label = GrantLabel { grant: id.clone() };
            m.expiry.remove(&label);
            m.idle_after.remove(&label);
            m.last_seen.remove(&label);
            for state in ["granted", "used"] {
                m.scopes.remove(&ScopeStateLabels {
                    grant: id.clone(),
                    state,
                });
            }
            m.drift_ratio.remove(&GrantPartnerLabels {
                grant: id.clone(),
                partner,
            });
            self.scopes_used.remove(&id);
        }
        self.loaded = grants
            .grants()
            .iter()
            .map(|g| (g.id.clone(), g.partner.clone()))
            .collect();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for grant in grants.grants() {
            let label = GrantLabel {
                grant: grant.id.clone(),
            };
            if let Some(expires_at) = grant.expires_at {
                self.metrics
                    .expiry
                    .get_or_create(&label)
                    .set(expires_at.timestamp_millis() as f64 / 1000.0);
            }
            self.metrics
                .idle_after
                .get_or_create(&label)
                .set(grant.idle_after.as_secs_f64());
            // Every grant has a drift gauge from the start; actions move it.
            let drift = self.drift.ratio(&grant.id, now_ms);
            self.metrics
                .drift_ratio
                .get_or_create(&GrantPartnerLabels {
                    grant: grant.id.clone(),
                    partner: grant.partner.clone(),
                })
                .set(drift);
            let granted =
                grant.scopes.len() + grant.emergency.as_ref().map_or(0, |e| e.scopes.len());
            let state = |state| ScopeStateLabels {
                grant: grant.id.clone(),
                state,
            };
            self.metrics
                .scopes
                .get_or_create(&state("granted"))
                .set(granted as i64);
            self.metrics
                .scopes
                .get_or_create(&state("used"))
                .set(used_count(grant, self.scopes_used.get(&grant.id)));
        }
    }

    /// Merges what the state store knows of a grant (persisted before a restart, or
    /// seen by another instance): when it was last used and which scopes it used.
    pub fn merge_known(
        &mut self,
        grant: &Grant,
        last_seen_ms: Option<i64>,
        scopes_used: &BTreeSet<String>,
    ) {
        let label = GrantLabel {
            grant: grant.id.clone(),
        };
        if let Some(ms) = last_seen_ms {
            let last_seen = self.metrics.last_seen.get_or_create(&label);
            last_seen.set(last_seen.get().max(ms as f64 / 1000.0));
        }
        let used = self.scopes_used.entry(grant.id.clone()).or_default();
        used.extend(scopes_used.iter().cloned());
        let state = ScopeStateLabels {
            grant: grant.id.clone(),
            state: "used",
        };
        self.metrics
            .scopes
            .get_or_create(&state)
            .set(used_count(grant, Some(used)));
    }

    /// Counts a batch's actions per grant and verdict, refreshes the drift ratio of the
    /// grants acting, and every 10 s that of all grants in the window (so
    /// that a grant gone quiet drifts back to 0).
    pub fn observe(&mut self, activity: &BatchActivity, grants: &GrantSet, now_ms: i64) {
        let m = &self.metrics;
        for a in &activity.grants {
            let partner = grants
                .get(&a.grant_id)
                .map(|g| g.partner.clone())
                .unwrap_or_default();
            let verdict = |verdict| VerdictLabels {
                grant: a.grant_id.clone(),
                partner: partner.clone(),
                verdict,
            };
            m.actions
                .get_or_create(&verdict("in_purpose"))
                .inc_by(a.actions.saturating_sub(a.flagged));
            if a.flagged > 0 {
                m.actions
                    .get_or_create(&verdict("out_of_purpose"))
                    .inc_by(a.flagged);
            }
            let label = GrantLabel {
                grant: a.grant_id.clone(),
            };
            let last_seen = m.last_seen.get_or_create(&label);
            last_seen.set(last_seen.get().max(a.last_seen_ms as f64 / 1000.0));
            self.drift.record(&a.grant_id, a.actions, a.flagged, now_ms);
            let used = self.scopes_used.entry(a.grant_id.clone()).or_default();
            used.extend(a.scopes_used.iter().cloned());
            if let Some(grant) = grants.get(&a.grant_id) {
                let state = ScopeStateLabels {
                    grant: a.grant_id.clone(),
                    state: "used",
                };
                m.scopes
                    .get_or_create(&state)
                    .set(used_count(grant, Some(used)));
            }
        }
        if activity.unbound > 0 {
            let labels = VerdictLabels {
                grant: String::new(),
                partner: String::new(),
                verdict: "unbound",
            };
            m.actions.get_or_create(&labels).inc_by(activity.unbound);
        }
        let ratios: Vec<(String, f64)> = if self.swept.is_none_or(|t| t.elapsed() >= DRIFT_SWEEP) {
            self.swept = Some(Instant::now());
            self.drift.sweep(now_ms)
        } else {
            let touched: BTreeSet<&str> = activity
                .grants
                .iter()
                .map(|a| a.grant_id.as_str())
                .collect();
            touched
                .into_iter()
                .map(|g| (g.to_owned(), self.drift.ratio(g, now_ms)))
                .collect()
        };
        for (grant, ratio) in ratios {
            // Grants a reload removed keep no gauge.
            let Some(partner) = self.loaded.get(&grant) else {
                continue;
            };
            let labels = GrantPartnerLabels {
                grant,
                partner: partner.clone(),
            };
            m.drift_ratio.get_or_create(&labels).set(ratio);
        }
    }
}

/// How many of the grant's scopes (emergency ones included) have been used.
fn used_count(grant: &Grant, used: Option<&BTreeSet<String>>) -> i64 {
    let Some(used) = used else { return 0 };
    let emergency = grant.emergency.iter().flat_map(|e| &e.scopes);
    grant
        .scopes
        .iter()
        .chain(emergency)
        .filter(|s| used.contains(s.action.as_str()))
        .count() as i64
}
