//! The per-grant drift metrics (DESIGN §8): label values come only from the grant
//! set, so series are bounded by the number of grants, never by event values.
//!
//! Memory per grant must stay a few numbers, so these are not prometheus-client
//! families: a family keeps every series' label values and a metric per series,
//! ~120 MB for 100,000 grants at five to eight series each. One row per grant holds
//! the numbers, and a [`Collector`] writes the series from the rows at each scrape.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use rustc_hash::FxHashMap;

use super::drift::DriftWindow;
use crate::activity::GrantActivity;
use crate::grants::pattern::ActionPattern;
use crate::grants::texts::Text;
use crate::grants::{Grant, GrantSet, Scope};

// prometheus-client appends `_total` to counters itself.
const ACTIONS: &str = "grantwatch_actions";
const DRIFT_RATIO: &str = "grantwatch_grant_drift_ratio";
const LAST_SEEN: &str = "grantwatch_grant_last_seen_timestamp_seconds";
const EXPIRY: &str = "grantwatch_grant_expiry_timestamp_seconds";
const IDLE_AFTER: &str = "grantwatch_grant_idle_after_seconds";
const SCOPES: &str = "grantwatch_grant_scopes";

/// Drift ratios of grants without new actions change only as minutes leave the
/// window: they are refreshed this often, not every batch.
const DRIFT_SWEEP: Duration = Duration::from_secs(10);

/// What the grant itself declares: exposed while it is in the set in force.
#[derive(Debug, Clone, Copy)]
struct Declared {
    expiry: Option<f64>,
    idle_after: f64,
    granted: i64,
}

/// One grant's numbers.
#[derive(Debug, Default)]
struct Row {
    /// Shared with the grant.
    partner: Text,
    /// `None` for a grant outside the set in force (a batch named it).
    declared: Option<Declared>,
    /// Counters, from the grant's first action of each verdict.
    in_purpose: Option<u64>,
    out_of_purpose: Option<u64>,
    /// Event time of the latest action, seconds; never moves back.
    last_seen: Option<f64>,
    scopes_used: i64,
    drift: f64,
    window: DriftWindow,
    /// The grant's scopes used, over all credentials, as shared patterns rather than
    /// a set of strings per grant (~30 MB with 100,000 grants). By text, which is
    /// stable across reloads, unlike scope indexes.
    used: Vec<ActionPattern>,
}

impl Row {
    fn saw(&mut self, ms: i64) {
        let seconds = ms as f64 / 1000.0;
        self.last_seen = Some(self.last_seen.map_or(seconds, |s| s.max(seconds)));
    }

    /// Notes the use of `grant`'s scope `action`; whether it is new.
    fn used(&mut self, grant: &Grant, action: &str) -> bool {
        if self.used.iter().any(|p| p.as_str() == action) {
            return false;
        }
        let Some(scope) = scopes(grant).find(|s| s.action.as_str() == action) else {
            return false;
        };
        self.used.push(scope.action.clone());
        true
    }

    /// How many of the grant's scopes (emergency ones included) have been used.
    fn used_count(&self, grant: &Grant) -> i64 {
        scopes(grant)
            .filter(|s| self.used.iter().any(|p| p.as_str() == s.action.as_str()))
            .count() as i64
    }
}

/// A grant's scopes, emergency ones included.
fn scopes(grant: &Grant) -> impl Iterator<Item = &Scope> {
    let emergency = grant.emergency.iter().flat_map(|e| &e.scopes);
    grant.scopes.iter().chain(emergency)
}

/// Every grant's row.
#[derive(Debug, Default)]
struct Table {
    rows: FxHashMap<String, Row>,
    /// Action counters of grants a reload removed or gave another partner, by
    /// (grant, partner): history, still exposed, continued if the grant comes back.
    retired: FxHashMap<(String, Text), (Option<u64>, Option<u64>)>,
    /// Actions no grant binds.
    unbound: Option<u64>,
}

impl Table {
    /// A new row, with the counters `(id, partner)` had before it was retired.
    fn fresh(&mut self, id: &str, partner: Text) -> Row {
        let (in_purpose, out_of_purpose) = self
            .retired
            .remove(&(id.to_owned(), partner.clone()))
            .unwrap_or_default();
        Row {
            partner,
            in_purpose,
            out_of_purpose,
            ..Row::default()
        }
    }

    fn retire(&mut self, id: String, row: Row) {
        if row.in_purpose.is_some() || row.out_of_purpose.is_some() {
            self.retired
                .insert((id, row.partner), (row.in_purpose, row.out_of_purpose));
        }
    }

    /// The row of grant `id`, made if it has none: a grant outside the set in force
    /// (which a batch never names, as rules see only that set) gets an empty partner.
    fn row(&mut self, id: &str, partner: impl FnOnce() -> Text) -> Option<&mut Row> {
        if !self.rows.contains_key(id) {
            let row = self.fresh(id, partner());
            self.rows.insert(id.to_owned(), row);
        }
        self.rows.get_mut(id)
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut actions = encoder.encode_descriptor(
            ACTIONS,
            "Partner actions judged, by grant and verdict",
            None,
            MetricType::Counter,
        )?;
        let rows = self
            .rows
            .iter()
            .map(|(id, r)| (id.as_str(), &*r.partner, r.in_purpose, r.out_of_purpose));
        let retired = self
            .retired
            .iter()
            .map(|((id, p), &(i, o))| (id.as_str(), &**p, i, o));
        for (grant, partner, in_purpose, out_of_purpose) in rows.chain(retired) {
            for (verdict, count) in [
                ("in_purpose", in_purpose),
                ("out_of_purpose", out_of_purpose),
            ] {
                if let Some(count) = count {
                    counter(&mut actions, [grant, partner, verdict], count)?;
                }
            }
        }
        if let Some(count) = self.unbound {
            counter(&mut actions, ["", "", "unbound"], count)?;
        }
        let mut drift = encoder.encode_descriptor(
            DRIFT_RATIO,
            "Share of a grant's actions flagged by a rule above info over the drift window",
            None,
            MetricType::Gauge,
        )?;
        for (id, row) in &self.rows {
            let labels = [("grant", id.as_str()), ("partner", &*row.partner)];
            drift.encode_family(&labels)?.encode_gauge(&row.drift)?;
        }
        let mut last_seen = encoder.encode_descriptor(
            LAST_SEEN,
            "Event time of the latest action under a grant",
            None,
            MetricType::Gauge,
        )?;
        for (id, row) in &self.rows {
            if let Some(seconds) = row.last_seen {
                gauge(&mut last_seen, id, seconds)?;
            }
        }
        let declared = || {
            self.rows
                .iter()
                .filter_map(|(id, row)| Some((id, row.declared?)))
        };
        let mut expiry =
            encoder.encode_descriptor(EXPIRY, "When a grant expires", None, MetricType::Gauge)?;
        for (id, d) in declared() {
            if let Some(seconds) = d.expiry {
                gauge(&mut expiry, id, seconds)?;
            }
        }
        let mut idle_after = encoder.encode_descriptor(
            IDLE_AFTER,
            "How long a grant may go unused before it is idle",
            None,
            MetricType::Gauge,
        )?;
        for (id, d) in declared() {
            gauge(&mut idle_after, id, d.idle_after)?;
        }
        let mut scopes = encoder.encode_descriptor(
            SCOPES,
            "Scopes a grant holds (granted) and has used since start (used)",
            None,
            MetricType::Gauge,
        )?;
        for (id, row) in &self.rows {
            let granted = row.declared.map(|d| ("granted", d.granted));
            for (state, count) in granted.into_iter().chain([("used", row.scopes_used)]) {
                let labels = [("grant", id.as_str()), ("state", state)];
                scopes.encode_family(&labels)?.encode_gauge(&count)?;
            }
        }
        Ok(())
    }
}

fn counter(
    family: &mut MetricEncoder<'_>,
    [grant, partner, verdict]: [&str; 3],
    count: u64,
) -> fmt::Result {
    let labels = [("grant", grant), ("partner", partner), ("verdict", verdict)];
    family
        .encode_family(&labels)?
        .encode_counter::<NoLabelSet, _, u64>(&count, None)
}

fn gauge(family: &mut MetricEncoder<'_>, grant: &str, value: f64) -> fmt::Result {
    family
        .encode_family(&[("grant", grant)])?
        .encode_gauge(&value)
}

/// The registry's handle on the rows, which it encodes at each scrape (holding the
/// lock, so a batch's [`GrantMetrics::observe`] waits for a scrape in progress).
#[derive(Debug, Clone, Default)]
pub struct GrantSeries(Arc<Mutex<Table>>);

impl GrantSeries {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere while holding it left plain numbers: still worth showing.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collector for GrantSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        self.lock().encode(&mut encoder)
    }
}

/// Keeps the grant series up to date: the grant set's own gauges, each batch's
/// actions, and the drift window.
pub struct GrantMetrics {
    series: GrantSeries,
    drift_window_ms: i64,
    swept: Option<Instant>,
}

impl GrantMetrics {
    /// Writes to `series`; drift is measured over `drift_window_ms` of processing
    /// time.
    pub fn new(series: GrantSeries, drift_window_ms: i64) -> Self {
        Self {
            series,
            drift_window_ms,
            swept: None,
        }
    }

    /// Sets the series that come from the grants themselves, and removes those of
    /// grants no longer in the set, or whose partner changed (their action counters
    /// stay: they are history).
    pub fn loaded(&mut self, grants: &GrantSet) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut table = self.series.lock();
        let mut previous = std::mem::take(&mut table.rows);
        for grant in grants.grants() {
            let mut row = match previous.remove(&grant.id) {
                Some(row) if row.partner == grant.partner => row,
                other => {
                    if let Some(row) = other {
                        table.retire(grant.id.clone(), row);
                    }
                    table.fresh(&grant.id, grant.partner.clone())
                }
            };
            let emergency = grant.emergency.as_ref().map_or(0, |e| e.scopes.len());
            row.declared = Some(Declared {
                expiry: grant
                    .expires_at
                    .map(|t| t.timestamp_millis() as f64 / 1000.0),
                idle_after: grant.idle_after.as_secs_f64(),
                granted: (grant.scopes.len() + emergency) as i64,
            });
            row.drift = row.window.ratio(now_ms, self.drift_window_ms);
            row.scopes_used = row.used_count(grant);
            table.rows.insert(grant.id.clone(), row);
        }
        for (id, row) in previous {
            table.retire(id, row);
        }
    }

    /// Merges what the state store knows of a grant (persisted before a restart, or
    /// seen by another instance): when it was last used and which scopes it used.
    pub fn merge_known(&mut self, grant: &Grant, last_seen_ms: Option<i64>, scopes_used: &[&str]) {
        let mut table = self.series.lock();
        let Some(row) = table.row(&grant.id, || grant.partner.clone()) else {
            return;
        };
        if let Some(ms) = last_seen_ms {
            row.saw(ms);
        }
        for action in scopes_used {
            row.used(grant, action);
        }
        row.scopes_used = row.used_count(grant);
    }

    /// Counts a batch's actions per grant and verdict (`unbound` those of credentials
    /// no grant binds), refreshes the drift ratio of the grants acting, and every 10 s
    /// that of all grants in the window (so that a grant gone quiet drifts back to 0).
    pub fn observe<'a>(
        &mut self,
        activity: impl IntoIterator<Item = GrantActivity<'a>>,
        unbound: u64,
        grants: &GrantSet,
        now_ms: i64,
    ) {
        let window_ms = self.drift_window_ms;
        let mut table = self.series.lock();
        for a in activity {
            let grant = grants.get(a.grant_id);
            let partner = || grant.map_or_else(|| Text::from(""), |g| Arc::clone(&g.partner));
            let Some(row) = table.row(a.grant_id, partner) else {
                continue;
            };
            let in_purpose = a.actions.saturating_sub(a.flagged);
            if in_purpose > 0 || row.in_purpose.is_some() {
                *row.in_purpose.get_or_insert(0) += in_purpose;
            }
            if a.flagged > 0 {
                *row.out_of_purpose.get_or_insert(0) += a.flagged;
            }
            row.saw(a.last_seen_ms);
            if let Some(grant) = grant {
                let mut grew = false;
                for action in a.scopes_used.iter() {
                    grew |= row.used(grant, action);
                }
                if grew {
                    row.scopes_used = row.used_count(grant);
                }
            }
            row.window.record(a.actions, a.flagged, now_ms);
            row.drift = row.window.ratio(now_ms, window_ms);
        }
        if unbound > 0 {
            *table.unbound.get_or_insert(0) += unbound;
        }
        if self.swept.is_none_or(|t| t.elapsed() >= DRIFT_SWEEP) {
            self.swept = Some(Instant::now());
            for row in table.rows.values_mut().filter(|r| !r.window.is_empty()) {
                row.drift = row.window.ratio(now_ms, window_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::Texts;
    use crate::grants::parse_str;
    use crate::telemetry::Metrics;
    use datafusion::arrow::array::StringArray;
    use std::path::Path;

    fn grants(partner: &str, with_b: bool) -> GrantSet {
        let mut yaml = format!(
            "- id: a\n  partner: {partner}\n  purpose: p\n  credentials: [ca]\n  expires_at: 2027-01-01\n  idle_after: 1h\n  scopes:\n    - action: \"GET /x\"\n    - action: \"POST /y\"\n"
        );
        if with_b {
            yaml += "- id: b\n  partner: q\n  purpose: p\n  credentials: [cb]\n  scopes:\n    - action: \"*\"\n";
        }
        parse_str(&yaml, Path::new("g.yaml"), Duration::from_secs(60)).unwrap()
    }

    /// `grant`'s credential `c` took `actions`, `flagged` of them, using the scope
    /// at `scope` of `scopes`.
    fn acted<'a>(
        grant: &'a str,
        actions: u64,
        flagged: u64,
        scopes: &'a StringArray,
        scope: &'a [u32],
    ) -> GrantActivity<'a> {
        GrantActivity {
            actions,
            flagged,
            last_seen_ms: 1_796_000_000_000,
            scopes_used: Texts::new(scopes, scope),
            ..GrantActivity::new(grant, "c")
        }
    }

    fn scrape(registry: &prometheus_client::registry::Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn rows_are_exposed_as_the_families_were_and_counters_outlive_a_reload() {
        let (metrics, registry) = Metrics::new();
        let mut m = GrantMetrics::new(metrics.grants.clone(), 3_600_000);
        m.loaded(&grants("p", true));
        let scopes = StringArray::from(vec!["GET /x", "*", "POST /y"]);
        let batch = [
            acted("a", 4, 1, &scopes, &[0]),
            acted("b", 2, 0, &scopes, &[1]),
        ];
        m.observe(batch, 3, &grants("p", true), 1_796_000_000_000);
        let text = scrape(&registry);
        for line in [
            r#"grantwatch_actions_total{grant="a",partner="p",verdict="in_purpose"} 3"#,
            r#"grantwatch_actions_total{grant="a",partner="p",verdict="out_of_purpose"} 1"#,
            r#"grantwatch_actions_total{grant="",partner="",verdict="unbound"} 3"#,
            r#"grantwatch_grant_drift_ratio{grant="a",partner="p"} 0.25"#,
            r#"grantwatch_grant_drift_ratio{grant="b",partner="q"} 0.0"#,
            r#"grantwatch_grant_last_seen_timestamp_seconds{grant="a"} 1796000000.0"#,
            r#"grantwatch_grant_expiry_timestamp_seconds{grant="a"} 1798761600.0"#,
            r#"grantwatch_grant_idle_after_seconds{grant="a"} 3600.0"#,
            r#"grantwatch_grant_scopes{grant="a",state="granted"} 2"#,
            r#"grantwatch_grant_scopes{grant="a",state="used"} 1"#,
            "# TYPE grantwatch_actions counter",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains(r#"expiry_timestamp_seconds{grant="b"}"#));

        // `a` moves to another partner and `b` goes: their gauges go, counters stay.
        m.loaded(&grants("p2", false));
        let text = scrape(&registry);
        assert!(
            text.contains(
                r#"grantwatch_actions_total{grant="a",partner="p",verdict="in_purpose"} 3"#
            )
        );
        assert!(
            text.contains(
                r#"grantwatch_actions_total{grant="b",partner="q",verdict="in_purpose"} 2"#
            )
        );
        assert!(text.contains(r#"grantwatch_grant_drift_ratio{grant="a",partner="p2"} 0.0"#));
        assert!(!text.contains(r#"grant="b",state="#), "{text}");
        assert!(!text.contains(r#"grantwatch_grant_drift_ratio{grant="a",partner="p"}"#));
        // Back to the first partner: the same counter goes on.
        m.loaded(&grants("p", false));
        m.observe(
            [acted("a", 1, 0, &scopes, &[2])],
            0,
            &grants("p", false),
            1_796_000_000_000,
        );
        let text = scrape(&registry);
        assert!(
            text.contains(
                r#"grantwatch_actions_total{grant="a",partner="p",verdict="in_purpose"} 4"#
            ),
            "{text}"
        );
    }
}
