//! Decide = the stream: for random grants and actions, `decide` denies exactly when
//! a per-event rule of severity medium or higher that judges the grant fires on the
//! action as the stream judges it, and names the same rules.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use proptest::prelude::*;

use super::decision::{Decision, Verdict, denies};
use crate::alerts::Grouping;
use crate::detect::Detector;
use crate::grants;
use crate::grants::verdict::Facts;
use crate::rules::load_rules;
use crate::state::SharedStore;

/// One grant's choices.
#[derive(Debug, Clone)]
struct GrantCase {
    status: &'static str,
    valid_from: &'static str,
    expires_at: &'static str,
    environments: &'static str,
    scopes: &'static [&'static str],
    delegates: &'static str,
}

fn grant_case() -> impl Strategy<Value = GrantCase> {
    (
        prop::sample::select(vec!["active", "active", "suspended", "revoked"]),
        prop::sample::select(vec!["2026-01-01T00:00:00Z", "2099-01-01T00:00:00Z"]),
        prop::sample::select(vec!["2099-06-01T00:00:00Z", "2026-02-01T00:00:00Z"]),
        prop::sample::select(vec!["", "  environments: [prod]\n", "  environments: [sandbox]\n"]),
        prop::sample::select(vec![
            &["    - action: \"GET /v1/accounts/*\"\n"][..],
            &["    - action: \"POST /v1/payouts\"\n      max_amount: 1000\n      currencies: [EUR]\n"][..],
            &[
                "    - action: \"GET /v1/accounts/*\"\n",
                "    - action: \"POST /v1/payouts\"\n      max_amount: 1000\n",
            ][..],
        ]),
        prop::sample::select(vec!["", "  delegates: [sub-ok]\n"]),
    )
        .prop_map(|(status, valid_from, expires_at, environments, scopes, delegates)| GrantCase {
            status,
            valid_from,
            expires_at,
            environments,
            scopes,
            delegates,
        })
}

fn yaml(id: &str, credential: &str, g: &GrantCase) -> String {
    format!(
        "- id: {id}\n  partner: p-{id}\n  owner: {id}@bank.example\n  approved_by: board\n  \
         purpose: Test {id}\n  credentials: [{credential}]\n  status: {}\n  valid_from: {}\n  \
         expires_at: {}\n{}{}  scopes:\n{}",
        g.status,
        g.valid_from,
        g.expires_at,
        g.environments,
        g.delegates,
        g.scopes.concat()
    )
}

/// One action's choices, as a native event.
fn event() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    (
        prop::sample::select(vec!["cli_a", "cli_b", "cli_nobody"]),
        prop::sample::select(vec![
            "GET /v1/accounts/acc_1",
            "POST /v1/payouts",
            "DELETE /v1/accounts/acc_2",
            "GET /v1/balances",
        ]),
        prop::sample::select(vec![None, Some("prod"), Some("sandbox")]),
        prop::sample::select(vec![None, Some(500.0), Some(5000.0)]),
        prop::sample::select(vec![None, Some("EUR"), Some("USD")]),
        prop::sample::select(vec![None, Some("sub-ok"), Some("sub-rogue")]),
    )
        .prop_map(
            |(credential, action, environment, amount, currency, actor)| {
                let mut e = serde_json::Map::new();
                e.insert("ts".into(), "2026-11-30T09:00:00Z".into());
                e.insert("event_id".into(), "e1".into());
                e.insert("credential_id".into(), credential.into());
                e.insert("action".into(), action.into());
                if let Some(v) = environment {
                    e.insert("environment".into(), v.into());
                }
                if let Some(v) = amount {
                    e.insert("amount".into(), v.into());
                }
                if let Some(v) = currency {
                    e.insert("currency".into(), v.into());
                }
                if let Some(v) = actor {
                    e.insert("actor".into(), v.into());
                }
                e
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn decide_denies_exactly_when_the_stream_would_alert(
        a in grant_case(),
        b in grant_case(),
        event in event(),
    ) {
        let text = format!("{}{}", yaml("ga", "cli_a", &a), yaml("gb", "cli_b", &b));
        let grants = Arc::new(
            grants::parse_str(&text, std::path::Path::new("grants.yaml"), std::time::Duration::from_secs(86_400 * 30))
                .expect("grants"),
        );
        let rules = load_rules(&[]).expect("rules");
        let line = serde_json::Value::Object(event.clone()).to_string();
        let (decision, streamed) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let detector = || Detector::new(&rules, Arc::clone(&grants), SharedStore::default(), Vec::new(), Grouping::default());
                let gate = detector().await.expect("rules plan");
                let stream = detector().await.expect("rules plan");
                let batch = || crate::decode::native_batch([line.as_str()]);
                let alerts = gate.dry_run(batch(), Utc::now()).await.expect("decided");
                let credential = event["credential_id"].as_str().unwrap_or_default();
                let decision = Decision::from_alerts(&alerts, &grants, credential, &Facts::of_event(&event));
                let judged = stream.judge(batch(), Utc::now()).await.expect("judged");
                (decision, judged.alerts)
            });
        let denying: BTreeSet<&str> = streamed
            .iter()
            .filter(|a| denies(&a.rule, &a.severity))
            .map(|a| a.rule.as_str())
            .collect();
        prop_assert_eq!(decision.verdict == Verdict::Deny, !denying.is_empty(), "{:?} {:?}", decision, streamed);
        let decided: BTreeSet<&str> = decision.reasons.iter().filter(|r| !r.advisory).map(|r| r.rule.as_str()).collect();
        prop_assert_eq!(decided, denying);
        let all: BTreeSet<&str> = streamed.iter().map(|a| a.rule.as_str()).collect();
        let reasons: BTreeSet<&str> = decision.reasons.iter().map(|r| r.rule.as_str()).collect();
        prop_assert_eq!(reasons, all);
        if decision.verdict == Verdict::Allow && event["credential_id"] != "cli_nobody" {
            prop_assert!(decision.grant_id.is_some() && decision.scope.is_some(), "{:?}", decision);
        }
    }
}

#[test]
fn an_allowed_read_names_its_scope_and_a_delete_is_denied_out_of_purpose() {
    let g = GrantCase {
        status: "active",
        valid_from: "2026-01-01T00:00:00Z",
        expires_at: "2099-06-01T00:00:00Z",
        environments: "",
        scopes: &["    - action: \"GET /v1/accounts/*\"\n"],
        delegates: "",
    };
    let grants = Arc::new(
        grants::parse_str(
            &yaml("ga", "cli_a", &g),
            std::path::Path::new("grants.yaml"),
            std::time::Duration::from_secs(86_400 * 30),
        )
        .expect("grants"),
    );
    let rules = load_rules(&[]).expect("rules");
    let decide = |action: &str| {
        let mut e = serde_json::Map::new();
        e.insert("ts".into(), "2026-11-30T09:00:00Z".into());
        e.insert("event_id".into(), "e1".into());
        e.insert("credential_id".into(), "cli_a".into());
        e.insert("action".into(), action.into());
        let line = serde_json::Value::Object(e.clone()).to_string();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let gate = Detector::new(
                    &rules,
                    Arc::clone(&grants),
                    SharedStore::default(),
                    Vec::new(),
                    Grouping::default(),
                )
                .await
                .expect("rules plan");
                let alerts = gate
                    .dry_run(crate::decode::native_batch([line.as_str()]), Utc::now())
                    .await
                    .expect("decided");
                Decision::from_alerts(&alerts, &grants, "cli_a", &Facts::of_event(&e))
            })
    };
    let read = decide("GET /v1/accounts/acc_1");
    assert_eq!(read.verdict, Verdict::Allow, "{read:?}");
    assert_eq!(
        (
            read.grant_id.as_deref(),
            read.scope.as_deref(),
            read.owner.as_deref()
        ),
        (
            Some("ga"),
            Some("GET /v1/accounts/*"),
            Some("ga@bank.example")
        )
    );
    let delete = decide("DELETE /v1/accounts/acc_1");
    assert_eq!(delete.verdict, Verdict::Deny);
    assert_eq!(delete.denying_rules(), "out_of_purpose_action");
    assert_eq!(delete.grant_id, None);
}

#[test]
fn with_the_streams_state_a_request_past_the_rate_limit_is_denied() {
    let text = "- id: limited\n  partner: acme\n  owner: jane@bank.example\n  purpose: Payouts\n  \
                credentials: [cli_a]\n  valid_from: 2026-01-01T00:00:00Z\n  expires_at: 2099-01-01T00:00:00Z\n  \
                rate_limit: 3/h\n  scopes:\n    - action: \"POST /v1/payouts\"\n";
    let grants = Arc::new(
        grants::parse_str(
            text,
            std::path::Path::new("grants.yaml"),
            std::time::Duration::from_secs(86_400 * 30),
        )
        .expect("grants"),
    );
    let rules = load_rules(&[]).expect("rules");
    let line = |i: u32| {
        format!(
            r#"{{"ts":"2026-11-30T10:0{i}:00Z","event_id":"e{i}","credential_id":"cli_a","action":"POST /v1/payouts"}}"#
        )
    };
    let verdicts = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let detector = |store: SharedStore| {
                Detector::new(
                    &rules,
                    Arc::clone(&grants),
                    store,
                    Vec::new(),
                    Grouping::default(),
                )
            };
            // The stream saw three payouts this hour, in the state both share.
            let shared = SharedStore::default();
            let stream = detector(shared.clone()).await.expect("rules plan");
            let history: Vec<String> = (1..=3).map(line).collect();
            stream
                .judge(
                    crate::decode::native_batch(history.iter().map(String::as_str)),
                    Utc::now(),
                )
                .await
                .expect("judged");
            let mut verdicts = Vec::new();
            for store in [shared, SharedStore::default()] {
                let gate = detector(store).await.expect("rules plan");
                let fourth = line(4);
                let alerts = gate
                    .dry_run(crate::decode::native_batch([fourth.as_str()]), Utc::now())
                    .await
                    .expect("decided");
                let event: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&fourth).expect("json");
                let decision =
                    Decision::from_alerts(&alerts, &grants, "cli_a", &Facts::of_event(&event));
                verdicts.push((decision.verdict, decision.denying_rules()));
            }
            verdicts
        });
    assert_eq!(
        verdicts,
        [
            (Verdict::Deny, "rate_limit_exceeded".to_owned()),
            (Verdict::Allow, String::new())
        ],
        "with the stream's state the fourth is over 3/h; without it, it counts alone"
    );
}

#[test]
fn a_grant_may_fail_open_or_closed_for_its_credentials() {
    use super::{FailMode, fail_mode};
    let text = "- id: open\n  partner: a\n  purpose: p\n  credentials: [c1, shared]\n  decide_fail: open\n  \
                scopes:\n    - action: \"GET /x\"\n\
                - id: closed\n  partner: b\n  purpose: p\n  credentials: [c2, shared]\n  decide_fail: closed\n  \
                scopes:\n    - action: \"GET /x\"\n";
    let grants = grants::parse_str(
        text,
        std::path::Path::new("grants.yaml"),
        std::time::Duration::from_secs(86_400),
    )
    .expect("grants");
    assert_eq!(fail_mode(&grants, "c1", FailMode::Closed), FailMode::Open);
    assert_eq!(fail_mode(&grants, "c2", FailMode::Open), FailMode::Closed);
    assert_eq!(
        fail_mode(&grants, "shared", FailMode::Open),
        FailMode::Closed,
        "closed wins"
    );
    assert_eq!(fail_mode(&grants, "other", FailMode::Open), FailMode::Open);
    let bad = grants::parse_str(
        "- id: x\n  partner: a\n  purpose: p\n  credentials: [c]\n  decide_fail: maybe\n  scopes:\n    - action: \"GET /x\"\n",
        std::path::Path::new("grants.yaml"),
        std::time::Duration::from_secs(86_400),
    );
    assert!(bad.unwrap_err().to_string().contains("decide_fail"));
}
