//! The per-grant drift metrics (DESIGN §8): label values come only from the grant
//! set, so series are bounded by the number of grants, never by event values.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::drift::DriftWindow;
use super::metrics::{
    FloatGauge, GrantLabel, GrantPartnerLabels, Metrics, ScopeStateLabels, VerdictLabels,
};
use crate::grants::{Grant, GrantSet};
use crate::rules::BatchActivity;

/// Drift gauges of grants without new actions change only as minutes leave the
/// window: they are refreshed this often, not every batch (refreshing every grant on
/// every batch cost more than judging the batch, with 10,000 grants).
const DRIFT_SWEEP: Duration = Duration::from_secs(10);

/// One grant's series, looked up in the families once per grant set: a batch touches
/// thousands of grants, and building and hashing their label values for every batch
/// cost a tenth of the pipeline's time. Series that exist only once a grant acted
/// (actions, last seen) are created on first use, as before.
struct Series {
    partner: String,
    in_purpose: Option<Counter>,
    out_of_purpose: Option<Counter>,
    last_seen: Option<FloatGauge>,
    scopes_used: Gauge,
    drift: FloatGauge,
    /// Action patterns of the scopes used, over all credentials.
    used: BTreeSet<String>,
}

/// Keeps the state behind the grant gauges: the drift window and each grant's series.
pub struct GrantMetrics {
    metrics: Metrics,
    drift: DriftWindow,
    swept: Option<Instant>,
    /// The grants of the set in force (and any a batch named that it lacks).
    series: HashMap<String, Series>,
}

impl GrantMetrics {
    /// Drift is measured over `drift_window_ms` of processing time.
    pub fn new(metrics: Metrics, drift_window_ms: i64) -> Self {
        Self {
            metrics,
            drift: DriftWindow::new(drift_window_ms),
            swept: None,
            series: HashMap::new(),
        }
    }

    /// Sets the gauges that come from the grants themselves, and removes those of
    /// grants no longer in the set, or whose partner changed (counters stay: they
    /// are history).
    pub fn loaded(&mut self, grants: &GrantSet) {
        let mut previous = std::mem::take(&mut self.series);
        for (id, series) in &previous {
            if grants.get(id).is_none_or(|g| g.partner != series.partner) {
                self.forget(id, series);
            }
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        for grant in grants.grants() {
            let used = match previous.remove(&grant.id) {
                Some(series) if series.partner == grant.partner => series.used,
                _ => BTreeSet::new(),
            };
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
            let granted =
                grant.scopes.len() + grant.emergency.as_ref().map_or(0, |e| e.scopes.len());
            self.metrics
                .scopes
                .get_or_create(&scope_state(&grant.id, "granted"))
                .set(granted as i64);
            let series = self.series_for(&grant.id, &grant.partner, used);
            // Every grant has a drift gauge from the start; actions move it.
            series.drift.set(self.drift.ratio(&grant.id, now_ms));
            series.scopes_used.set(used_count(grant, &series.used));
            self.series.insert(grant.id.clone(), series);
        }
    }

    /// Removes a grant's gauges from the families.
    fn forget(&self, id: &str, series: &Series) {
        let m = &self.metrics;
        let label = GrantLabel {
            grant: id.to_owned(),
        };
        m.expiry.remove(&label);
        m.idle_after.remove(&label);
        m.last_seen.remove(&label);
        for state in ["granted", "used"] {
            m.scopes.remove(&scope_state(id, state));
        }
        m.drift_ratio.remove(&GrantPartnerLabels {
            grant: id.to_owned(),
            partner: series.partner.clone(),
        });
    }

    /// The always-present series of a grant, from the families.
    fn series_for(&self, id: &str, partner: &str, used: BTreeSet<String>) -> Series {
        let m = &self.metrics;
        let drift = m
            .drift_ratio
            .get_or_create(&GrantPartnerLabels {
                grant: id.to_owned(),
                partner: partner.to_owned(),
            })
            .clone();
        let scopes_used = m.scopes.get_or_create(&scope_state(id, "used")).clone();
        Series {
            partner: partner.to_owned(),
            in_purpose: None,
            out_of_purpose: None,
            last_seen: None,
            scopes_used,
            drift,
            used,
        }
    }

    /// Makes the series of grant `id` if it has none: a grant outside the set in force
    /// (which a batch never names, as rules see only that set) gets an empty partner.
    fn ensure(&mut self, id: &str, partner: impl FnOnce() -> String) {
        if !self.series.contains_key(id) {
            let series = self.series_for(id, &partner(), BTreeSet::new());
            self.series.insert(id.to_owned(), series);
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
        self.ensure(&grant.id, || grant.partner.clone());
        let Some(series) = self.series.get_mut(&grant.id) else {
            return;
        };
        if let Some(ms) = last_seen_ms {
            series.saw(&self.metrics, &grant.id, ms);
        }
        series.used.extend(scopes_used.iter().cloned());
        series.scopes_used.set(used_count(grant, &series.used));
    }

    /// Counts a batch's actions per grant and verdict, refreshes the drift ratio of the
    /// grants acting, and every 10 s that of all grants in the window (so
    /// that a grant gone quiet drifts back to 0).
    pub fn observe(&mut self, activity: &BatchActivity, grants: &GrantSet, now_ms: i64) {
        let metrics = self.metrics.clone();
        for a in &activity.grants {
            self.ensure(&a.grant_id, || {
                grants
                    .get(&a.grant_id)
                    .map(|g| g.partner.clone())
                    .unwrap_or_default()
            });
            let Some(series) = self.series.get_mut(&a.grant_id) else {
                continue;
            };
            let verdict = |verdict| VerdictLabels {
                grant: a.grant_id.clone(),
                partner: series.partner.clone(),
                verdict,
            };
            let in_purpose = a.actions.saturating_sub(a.flagged);
            if in_purpose > 0 || series.in_purpose.is_some() {
                series
                    .in_purpose
                    .get_or_insert_with(|| {
                        metrics
                            .actions
                            .get_or_create(&verdict("in_purpose"))
                            .clone()
                    })
                    .inc_by(in_purpose);
            }
            if a.flagged > 0 {
                series
                    .out_of_purpose
                    .get_or_insert_with(|| {
                        metrics
                            .actions
                            .get_or_create(&verdict("out_of_purpose"))
                            .clone()
                    })
                    .inc_by(a.flagged);
            }
            series.saw(&metrics, &a.grant_id, a.last_seen_ms);
            let mut grew = false;
            for scope in &a.scopes_used {
                if !series.used.contains(scope) {
                    grew |= series.used.insert(scope.clone());
                }
            }
            if grew && let Some(grant) = grants.get(&a.grant_id) {
                series.scopes_used.set(used_count(grant, &series.used));
            }
            self.drift.record(&a.grant_id, a.actions, a.flagged, now_ms);
        }
        if activity.unbound > 0 {
            let labels = VerdictLabels {
                grant: String::new(),
                partner: String::new(),
                verdict: "unbound",
            };
            metrics
                .actions
                .get_or_create(&labels)
                .inc_by(activity.unbound);
        }
        if self.swept.is_none_or(|t| t.elapsed() >= DRIFT_SWEEP) {
            self.swept = Some(Instant::now());
            for (grant, ratio) in self.drift.sweep(now_ms) {
                // Grants a reload removed keep no gauge.
                if let Some(series) = self.series.get(&grant) {
                    series.drift.set(ratio);
                }
            }
        } else {
            for a in &activity.grants {
                if let Some(series) = self.series.get(&a.grant_id) {
                    series.drift.set(self.drift.ratio(&a.grant_id, now_ms));
                }
            }
        }
    }
}

impl Series {
    /// Moves the last-seen gauge forward to `ms` (never back: batches and other
    /// instances report out of order).
    fn saw(&mut self, metrics: &Metrics, id: &str, ms: i64) {
        let gauge = self.last_seen.get_or_insert_with(|| {
            metrics
                .last_seen
                .get_or_create(&GrantLabel {
                    grant: id.to_owned(),
                })
                .clone()
        });
        gauge.set(gauge.get().max(ms as f64 / 1000.0));
    }
}

fn scope_state(grant: &str, state: &'static str) -> ScopeStateLabels {
    ScopeStateLabels {
        grant: grant.to_owned(),
        state,
    }
}

/// How many of the grant's scopes (emergency ones included) have been used.
fn used_count(grant: &Grant, used: &BTreeSet<String>) -> i64 {
    let emergency = grant.emergency.iter().flat_map(|e| &e.scopes);
    grant
        .scopes
        .iter()
        .chain(emergency)
        .filter(|s| used.contains(s.action.as_str()))
        .count() as i64
}
