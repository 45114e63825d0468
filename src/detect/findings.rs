//! Scheduled findings: the `every <duration>` rules run over the grants and their
//! activity, judged by the clock (by the newest event time in `replay`). Each
//! condition fires once per grant, then again only when it changes (its group key
//! differs) or after it cleared; the conditions in force live in the state store,
//! so a restart or another instance does not fire them again.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;

use crate::alerts::{Alert, alert_id};
use crate::grants::GrantSet;
use crate::kafka::Ownership;
use crate::rules::{RuleEngine, RuleHits, Schedule};
use crate::state::{StateRecord, StateStore, finding_key};

/// When each scheduled rule is next due (epoch ms of the clock it runs by).
#[derive(Debug, Default)]
pub struct Schedules {
    next_ms: HashMap<String, i64>,
}

impl Schedules {
    /// The rules due at `now_ms`. A rule never run is due at once.
    pub fn due(&self, engine: &RuleEngine, now_ms: i64) -> Vec<String> {
        engine
            .scheduled_rules()
            .filter(|r| self.next_ms.get(&r.name).is_none_or(|&next| next <= now_ms))
            .map(|r| r.name.clone())
            .collect()
    }

    /// Records that `names` ran at `now_ms`: each is due again one period later.
    pub fn ran(&mut self, engine: &RuleEngine, names: &[String], now_ms: i64) {
        for rule in engine.scheduled_rules().filter(|r| names.contains(&r.name)) {
            if let Schedule::Every(period) = rule.schedule {
                let period = i64::try_from(period.as_millis()).unwrap_or(i64::MAX / 2);
                self.next_ms
                    .insert(rule.name.clone(), now_ms.saturating_add(period));
            }
        }
    }
}

/// What one round of scheduled rules decided.
#[derive(Debug, Default)]
pub struct Round {
    /// New or changed findings, to deliver.
    pub alerts: Vec<Alert>,
    /// State changes to persist: findings in force, tombstones for cleared ones.
    pub records: Vec<(String, Option<StateRecord>)>,
}

/// Turns scheduled rule rows into alerts for the grants this instance owns, firing
/// only conditions not already in force, and clearing those that no longer hold.
pub fn decide(
    hits: &[RuleHits],
    grants: &GrantSet,
    store: &mut StateStore,
    ownership: &Ownership,
    now_ms: i64,
) -> Result<Round, ArrowError> {
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut round = Round::default();
    for hit in hits {
        let rule = &hit.rule;
        // First row per grant; its group key is the grant's current condition.
        let mut current: BTreeMap<String, (Vec<String>, String, Option<String>)> = BTreeMap::new();
        for rows in &hit.rows {
            let column = |name: &str| -> Result<Option<StringArray>, ArrowError> {
                rows.column_by_name(name)
                    .map(|c| Ok(cast(c, &DataType::Utf8)?.as_string::<i32>().clone()))
                    .transpose()
            };
            let (Some(grant_ids), Some(reasons)) = (column("grant_id")?, column("reason")?) else {
                continue;
            };
            let credentials = column("credential_id")?;
            let keys: Vec<Option<StringArray>> = rule
                .group_by
                .iter()
                .map(|name| column(name))
                .collect::<Result<_, _>>()?;
            for row in 0..rows.num_rows() {
                if grant_ids.is_null(row) {
                    continue;
                }
                let key = keys
                    .iter()
                    .map(|k| match k {
                        Some(k) if !k.is_null(row) => k.value(row).to_owned(),
                        _ => String::new(),
                    })
                    .collect();
                let credential = credentials
                    .as_ref()
                    .filter(|c| !c.is_null(row))
                    .map(|c| c.value(row).to_owned());
                current
                    .entry(grant_ids.value(row).to_owned())
                    .or_insert_with(|| (key, reasons.value(row).to_owned(), credential));
            }
        }
        for (grant_id, (key, reason, credential)) in &current {
            let Some(grant) = grants.get(grant_id) else {
                continue;
            };
            if !ownership.owns(grant) {
                continue;
            }
            let condition = key.join("\u{1f}");
            if store.finding(&rule.name, grant_id) == Some(condition.as_str()) {
                continue;
            }
            let record = store.set_finding(&rule.name, grant_id, &condition);
            round.records.push((record.key(), Some(record)));
            round.alerts.push(Alert {
                alert_id: alert_id(&rule.name, key, ""),
                group: String::new(),
                rule: rule.name.clone(),
                severity: rule.severity.as_str().to_owned(),
                summary: rule.summary.clone(),
                reason: reason.clone(),
                grant_id: Some(grant_id.clone()),
                grant_ids: Vec::new(),
                partner: Some(grant.partner.to_string()),
                owner: grant.owner.as_deref().map(str::to_owned),
                purpose: Some(grant.purpose.to_string()),
                credential_id: credential
                    .clone()
                    .or_else(|| grant.credentials.first().cloned())
                    .unwrap_or_default(),
                action: None,
                sample_actions: Vec::new(),
                first_seen: now.clone(),
                last_seen: now.clone(),
                count: 1,
                event_ids: Vec::new(),
                frameworks: rule.frameworks.clone(),
                detected_at: now.clone(),
            });
        }
        // Conditions that no longer hold clear, so that they fire again if they return.
        let cleared: Vec<String> = store
            .findings_of(&rule.name)
            .filter(|g| !current.contains_key(*g))
            .filter(|g| grants.get(g).is_none_or(|grant| ownership.owns(grant)))
            .map(str::to_owned)
            .collect();
        for grant_id in cleared {
            store.clear_finding(&rule.name, &grant_id);
            round
                .records
                .push((finding_key(&rule.name, &grant_id), None));
        }
    }
    Ok(round)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::activity::GrantActivity;
    use crate::grants::{self, GrantTables};
    use crate::rules::load_rules;

    const GRANTS: &str = "\
- id: busy
  partner: p
  owner: o
  purpose: x
  credentials: [c-busy]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2026-12-10T00:00:00Z
  idle_after: 1h
  scopes: [{action: \"GET /x\"}]
- id: quiet
  partner: p
  owner: o
  purpose: x
  credentials: [c-quiet]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  idle_after: 1h
  scopes: [{action: \"GET /x\"}]
- id: never
  partner: p
  purpose: x
  credentials: [c-never]
  valid_from: 2026-11-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  idle_after: 14d
  scopes: [{action: \"GET /x\"}]
";

    const HOUR: i64 = 3_600_000;

    fn ms(text: &str) -> i64 {
        crate::time::parse_time(text)
            .expect("time")
            .timestamp_millis()
    }

    /// Records one action of `grant`'s credential at `at`.
    fn used(store: &mut StateStore, grant: &str, at: i64) {
        store.record_batch([GrantActivity {
            actions: 1,
            last_seen_ms: at,
            ..GrantActivity::new(grant, &format!("c-{grant}"))
        }]);
    }

    async fn round(
        engine: &RuleEngine,
        grants: &GrantSet,
        store: &mut StateStore,
        now_ms: i64,
    ) -> BTreeSet<(String, String)> {
        let due: Vec<String> = engine.scheduled_rules().map(|r| r.name.clone()).collect();
        let state = store.tables().expect("state");
        let hits = engine
            .evaluate_scheduled(&due, &state, now_ms)
            .await
            .expect("evaluate");
        decide(&hits, grants, store, &Ownership::everything(), now_ms)
            .expect("decide")
            .alerts
            .into_iter()
            .map(|a| (a.rule, a.grant_id.unwrap_or_default()))
            .collect()
    }

    fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(r, g)| (r.to_string(), g.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn each_condition_fires_once_then_again_only_when_it_changes() {
        let grants = grants::parse_str(GRANTS, Path::new("g.yaml"), Duration::from_secs(86_400))
            .expect("grants");
        let rules = load_rules(&[]).expect("rules");
        let engine = RuleEngine::new(&rules, GrantTables::build(&grants).expect("tables"))
            .await
            .expect("plan");
        let mut store = StateStore::default();
        let now = ms("2026-12-01T12:00:00Z");
        used(&mut store, "busy", now - HOUR / 2);
        used(&mut store, "quiet", now - 3 * HOUR);

        // busy: used and expiring within 14 days; quiet: idle for 3 h of its 1 h;
        // never: ownerless, and unused for 30 days of its 14 since valid_from.
        assert_eq!(
            round(&engine, &grants, &mut store, now).await,
            set(&[
                ("expiring_grant_in_use", "busy"),
                ("idle_grant", "quiet"),
                ("idle_grant", "never"),
                ("grant_without_owner", "never"),
            ])
        );
        // A minute later nothing has changed: nothing fires.
        assert_eq!(
            round(&engine, &grants, &mut store, now + 60_000).await,
            set(&[])
        );
        // quiet is used again (its idle period ends), then goes idle again: a new
        // condition, so it fires again; busy has gone idle meanwhile.
        used(&mut store, "quiet", now + 2 * 60_000);
        assert_eq!(
            round(&engine, &grants, &mut store, now + 3 * 60_000).await,
            set(&[])
        );
        assert_eq!(
            round(&engine, &grants, &mut store, now + 2 * HOUR).await,
            set(&[("idle_grant", "quiet"), ("idle_grant", "busy")])
        );
    }
}
