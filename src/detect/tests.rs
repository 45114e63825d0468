//! Live = replay: a stream judged in batches of any size raises the same alerts.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::Detector;
use crate::alerts::{Alert, Grouping, MAX_EVENT_IDS};
use crate::decode::{ActionsBuilder, Source};
use crate::grants::{self, GrantSet};
use crate::kafka::Ownership;
use crate::rules::{Rule, load_rules};
use crate::state::SharedStore;

const GRANTS: &str = r#"
- id: acme-payouts
  partner: acme-payroll
  owner: jane.doe@bank.example
  purpose: Initiate payroll payouts
  credentials: [cli_acme, cli_acme_2]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  environments: [prod]
  scopes:
    - action: "POST /v1/payouts"
      max_amount: 5000
      currencies: [EUR]
    - action: "GET /v1/payouts/*"
    - action: "GET /v1/balances"
- id: fintech-read
  partner: fintech
  owner: sam@bank.example
  purpose: Read balances
  credentials: [cli_fin]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  scopes:
    - action: "GET /v1/balances"
    - action: "GET /v1/accounts/*"
"#;

fn test_grants() -> Arc<GrantSet> {
    Arc::new(
        grants::parse_str(
            GRANTS,
            std::path::Path::new("grants.yaml"),
            std::time::Duration::from_secs(30 * 86_400),
        )
        .expect("grants"),
    )
}

/// One generated action: who, what, and how long after the one before.
#[derive(Debug, Clone)]
struct Step {
    gap_ms: i64,
    credential: &'static str,
    action: &'static str,
    environment: &'static str,
    amount: Option<u32>,
    /// The same action this many times, a second apart: bursts pass the id cap.
    burst: usize,
}

fn step() -> impl Strategy<Value = Step> {
    let gap = prop_oneof![
        8 => 0i64..60_000,
        1 => 3_000_000i64..4_000_000,
        1 => 3 * 86_400_000i64..4 * 86_400_000,
    ];
    let credential = prop::sample::select(vec![
        "cli_acme",
        "cli_acme",
        "cli_acme",
        "cli_acme_2",
        "cli_fin",
        "cli_other",
    ]);
    // Refunds are out of every purpose: half the stream, so alerts pass the id cap.
    // `{n}` takes 13 ids, so an alert's raw actions pass the sample cap.
    let action = prop::sample::select(vec![
        "DELETE /v1/accounts/acc_{n}",
        "POST /v1/payouts",
        "GET /v1/payouts/p_1",
        "GET /v1/balances",
        "GET /v1/accounts/a_9",
        "DELETE /v1/accounts/a_9",
        "POST /v1/refunds",
        "POST /v1/refunds",
        "POST /v1/refunds",
        "POST /v1/refunds",
        "POST /v1/refunds",
    ]);
    let environment = prop::sample::select(vec!["prod", "prod", "sandbox"]);
    let amount = prop::option::of(1u32..9_000);
    let burst = prop_oneof![9 => Just(1usize), 1 => 20usize..150];
    (gap, credential, action, environment, amount, burst).prop_map(
        |(gap_ms, credential, action, environment, amount, burst)| Step {
            gap_ms,
            credential,
            action,
            environment,
            amount,
            burst,
        },
    )
}

/// The steps as native JSON lines, times strictly increasing from 2026-03-01.
fn events(steps: &[Step]) -> Vec<String> {
    let mut ts = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .expect("time")
        .timestamp_millis();
    let mut i = 0;
    let mut lines = Vec::new();
    for s in steps {
        ts += s.gap_ms;
        for _ in 0..s.burst {
            ts += 1_000;
            let mut event = serde_json::json!({
                "event_id": format!("e{i}"),
                "ts": ts,
                "credential_id": s.credential,
                "action": s.action.replace("{n}", &(i % 13).to_string()),
                "environment": s.environment,
            });
            if let Some(amount) = s.amount {
                event["amount"] = amount.into();
                event["currency"] = "EUR".into();
            }
            lines.push(event.to_string());
            i += 1;
        }
    }
    lines
}

/// What an alert says, less when it was detected.
fn said(mut alert: Alert) -> Alert {
    alert.detected_at = String::new();
    alert
}

/// Judges `lines` in batches of `sizes` (cycled), then runs every scheduled rule at
/// the newest event time, and returns every alert by id.
async fn judge_in(
    rules: &[Rule],
    grants: &Arc<GrantSet>,
    lines: &[String],
    sizes: &[usize],
) -> Vec<Alert> {
    let detector = Detector::new(
        rules,
        Arc::clone(grants),
        SharedStore::default(),
        Vec::new(),
        Grouping::default(),
    )
    .await
    .expect("rules plan");
    let mut newest_ms = None;
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        if at >= lines.len() {
            break;
        }
        let end = (at + size).min(lines.len());
        let mut builder = ActionsBuilder::new(1 << 20);
        for (offset, line) in lines[at..end].iter().enumerate() {
            let source = Source {
                topic: "t",
                partition: 0,
                offset: (at + offset) as i64,
            };
            builder.push_native(line.as_bytes(), source).expect("event");
        }
        let batch = builder.finish().expect("batch");
        let judgement = detector.judge(batch, Utc::now()).await.expect("judged");
        newest_ms = newest_ms.max(judgement.newest_ms);
        at = end;
    }
    let mut alerts: Vec<Alert> = detector.alerts().into_iter().map(said).collect();
    if let Some(now_ms) = newest_ms {
        let due = detector.scheduled_rules();
        let findings = detector
            .scheduled(&due, &Ownership::everything(), now_ms)
            .await
            .expect("scheduled");
        alerts.extend(findings.alerts.into_iter().map(said));
    }
    alerts.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
    alerts
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the batch sizes, the same alerts: ids, counts, severities, event ids
    /// (capped), first and last seen, and the event that describes each.
    #[test]
    fn batch_boundaries_change_no_alert(
        steps in prop::collection::vec(step(), 1..200),
        sizes in prop::collection::vec(1usize..64, 1..6),
    ) {
        let rules = load_rules(&[]).expect("rules");
        let grants = test_grants();
        let lines = events(&steps);
        let (whole, batched) = runtime().block_on(async {
            let whole = judge_in(&rules, &grants, &lines, &[lines.len()]).await;
            let batched = judge_in(&rules, &grants, &lines, &sizes).await;
            (whole, batched)
        });
        for alert in &whole {
            prop_assert!(alert.event_ids.len() <= MAX_EVENT_IDS);
            prop_assert!(alert.count >= alert.event_ids.len() as u64);
        }
        prop_assert_eq!(whole, batched);
    }
}

/// The cases above reach the rules they are meant to: a stream of repeats makes an
/// alert past the event-id cap, and a new scope after the learning week makes a
/// `first_seen_action`.
#[test]
fn the_generated_streams_reach_the_cap_and_first_seen_action() {
    let rules = load_rules(&[]).expect("rules");
    let grants = test_grants();
    let repeat = |action: &'static str, gap_ms: i64, burst: usize| Step {
        gap_ms,
        credential: "cli_acme",
        action,
        environment: "prod",
        amount: None,
        burst,
    };
    let steps = [
        repeat("GET /v1/balances", 0, 1),
        repeat("POST /v1/refunds", 0, 150),
        repeat("GET /v1/payouts/p_1", 8 * 86_400_000, 1),
    ];
    let lines = events(&steps);
    let (whole, batched) = runtime().block_on(async {
        (
            judge_in(&rules, &grants, &lines, &[lines.len()]).await,
            judge_in(&rules, &grants, &lines, &[7, 1, 30]).await,
        )
    });
    assert_eq!(whole, batched);
    let refunds = whole
        .iter()
        .find(|a| a.rule == "out_of_purpose_action")
        .expect("out of purpose");
    assert_eq!(
        (refunds.count, refunds.event_ids.len()),
        (150, MAX_EVENT_IDS)
    );
    assert_eq!(refunds.event_ids.first().map(String::as_str), Some("e1"));
    assert!(
        whole.iter().any(|a| a.rule == "first_seen_action"),
        "{whole:#?}"
    );
}

/// The built-in pack over the scenario, in process: the same expected alerts the
/// Kafka integration test checks, without a broker.
#[tokio::test]
async fn builtin_rules_raise_exactly_the_scenario_alerts() {
    let fixture = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scenario")
            .join(name)
    };
    let grants = grants::load_paths(
        &[fixture("grants.yaml")],
        std::time::Duration::from_secs(86_400),
    )
    .expect("grants");
    let rules = load_rules(&[]).expect("rules");
    let detector = Detector::new(
        &rules,
        Arc::new(grants),
        SharedStore::default(),
        Vec::new(),
        Grouping::default(),
    )
    .await
    .expect("detector");
    let events = std::fs::read_to_string(fixture("events.jsonl")).expect("events");
    let judgement = detector
        .judge(crate::decode::native_batch(events.lines()), Utc::now())
        .await
        .expect("judge");
    let got: std::collections::BTreeSet<String> = judgement
        .alerts
        .iter()
        .map(|a| {
            let grant = a.grant_id.as_deref().unwrap_or("");
            format!(
                "{}\t{grant}\t{}\t{}",
                a.rule,
                a.credential_id,
                a.event_ids.join(",")
            )
        })
        .collect();
    let expected: std::collections::BTreeSet<String> =
        std::fs::read_to_string(fixture("expected_alerts.tsv"))
            .expect("expected")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
    assert_eq!(got, expected);
    assert_eq!(judgement.alerts.len(), expected.len());
}

/// Two instances each judge part of one misuse: the instance that owns its group
/// reports it, with every event of both, under one id; the other relays its share
/// through the state records, as the state topic carries them.
#[test]
fn a_misuse_seen_by_two_instances_is_one_alert_with_the_whole_count() {
    runtime().block_on(async {
        let grants = test_grants();
        let rules = load_rules(&[]).expect("rules");
        let detector = |store: SharedStore| {
            Detector::new(&rules, Arc::clone(&grants), store, Vec::new(), Grouping::default())
        };
        let a_store = SharedStore::default();
        let a = detector(a_store.clone()).await.expect("rules plan");
        let b = detector(SharedStore::default()).await.expect("rules plan");
        // The second credential's events come 30 s later: each instance alone would
        // start the session, and name the alert, at another time.
        let lines = |credential: &str, first: usize| -> Vec<String> {
            let shift = if credential == "cli_acme" { 0 } else { 30 };
            (first..first + 150)
                .map(|i| {
                    let s = i + shift;
                    format!(
                        r#"{{"ts":"2026-11-30T09:{:02}:{:02}Z","event_id":"{credential}-{i}","credential_id":"{credential}","action":"DELETE /v1/accounts/acc_{i}","environment":"prod"}}"#,
                        s / 60 % 60,
                        s % 60
                    )
                })
                .collect()
        };
        let batch = |lines: Vec<String>| crate::decode::native_batch(lines.iter().map(String::as_str));
        // Which of two partitions owns the misuse's group, from a third instance.
        let probe = detector(SharedStore::default()).await.expect("rules plan");
        let probe = probe
            .judge(batch(lines("cli_acme", 0)[..1].to_vec()), Utc::now())
            .await
            .expect("judged");
        let group = probe.alerts[0].group.clone();
        let owner_partition = crate::kafka::ownership::partition_for(&group, 2);
        let (owner, other) = (
            Ownership::new(2, [owner_partition]),
            Ownership::new(2, [1 - owner_partition]),
        );
        assert!(owner.owns_group(&group) && !other.owns_group(&group));

        let now = Utc::now();
        let ms = now.timestamp_millis();
        let mut delivered = Vec::new();
        for round in 0..2 {
            // Each instance judges one credential's events of this round.
            let mine = a
                .judge_prepared(a.preparer().prepare(batch(lines("cli_acme", round * 150))).expect("prepared"), &owner, now)
                .await
                .expect("judged");
            delivered.extend(mine.alerts);
            let theirs = b
                .judge_prepared(b.preparer().prepare(batch(lines("cli_acme_2", round * 150))).expect("prepared"), &other, now)
                .await
                .expect("judged");
            assert!(theirs.alerts.is_empty(), "the other instance delivers nothing");
            assert_eq!(theirs.relayed, 1);
            // The other instance's state write reaches the owner; its own is skipped.
            for (key, record) in b.store().with(|s| s.take_changes()) {
                a_store.with(|s| s.merge(&key, record));
            }
            delivered.extend(a.admit_relays(&owner, ms));
            assert!(b.admit_relays(&other, ms).is_empty());
        }
        assert_eq!(delivered.len(), 1, "one alert reached the sinks: {delivered:#?}");
        let updates = a.updates_due(ms + 60_000, 0, &owner);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].alert_id, delivered[0].alert_id);
        assert_eq!(updates[0].count, 600, "every event of both instances");
        // The owner's tombstones clear the relays everywhere.
        let tombstones: Vec<(String, Option<crate::state::StateRecord>)> =
            a_store.with(|s| s.take_changes()).into_iter().filter(|(_, r)| r.is_none()).collect();
        assert_eq!(tombstones.len(), 2);
        for (key, record) in tombstones {
            b.store().with(|s| s.merge(&key, record));
        }
        assert!(b.store().with(|s| s.relays.is_empty()));
        assert!(b.updates_due(ms + 60_000, 0, &other).is_empty(), "not b's to update");
    });
}
