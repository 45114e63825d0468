//! Generated partner traffic for the demo: several partners' grants, relative to
//! today so the demo never goes stale, and a stream that is mostly in purpose with a
//! violation of every built-in rule mixed in.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

fn at(now: DateTime<Utc>, days: i64) -> String {
    (now + TimeDelta::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The demo's grants, as YAML (parsed by the real loader).
pub(super) fn grants_yaml(now: DateTime<Utc>) -> String {
    let d = |days| at(now, days);
    let hours = |h| (now + TimeDelta::hours(h)).to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        r#"
- id: acme-payroll-payouts
  partner: acme-payroll
  owner: jane.doe@bank.example
  approved_by: third-party-risk-board
  purpose: Initiate payroll payouts for SME customers
  credentials: [cli_acme_payouts_prod]
  valid_from: {start}
  expires_at: {end}
  environments: [prod]
  delegates: [acme-subproc-ltd]
  max_daily_amount: 2000000
  scopes:
    - action: "POST /v1/payouts"
      data_classes: [pii.basic, financial.account]
      max_amount: 50000
      currencies: [EUR, GBP]
    - action: "GET /v1/payouts/*"
  emergency:
    from: {em_from}
    until: {em_until}
    reason: INC-4411 payout backlog
    approved_by: ciso-oncall
    scopes:
      - action: "POST /v1/payouts/*/retry"
- id: ledgerly-reconciliation
  partner: ledgerly
  owner: omar.said@bank.example
  purpose: Read account transactions to reconcile SME ledgers
  credentials: [sa-ledgerly-recon]
  valid_from: {start}
  expires_at: {end}
  environments: [prod]
  scopes:
    - action: "GET /v1/accounts/*/transactions"
      data_classes: [financial.account]
    - action: "GET /v1/accounts/*/balance"
    - action: "GET /v1/accounts/*/statements"
- id: veritas-kyc-documents
  partner: veritas-kyc
  owner: li.wei@bank.example
  purpose: Read identity documents to run KYC checks
  credentials: ["arn:aws:iam::210987654321:role/veritas-kyc"]
  valid_from: {start}
  expires_at: {soon}
  scopes:
    - action: "s3:GetObject"
      data_classes: [pii.identity]
    - action: "textract:Analyze*"
- id: adfunnel-marketing-export
  partner: adfunnel
  owner: sam.ito@bank.example
  purpose: Weekly export of consenting customers for a 2025 campaign
  credentials: [cli_adfunnel_export]
  valid_from: {long_ago}
  expires_at: {expired}
  scopes:
    - action: "GET /v1/customers/export"
- id: fraudscore-scoring
  partner: fraudscore
  owner: ana.costa@bank.example
  purpose: Score card transactions for fraud
  credentials: [cli_fraudscore]
  status: suspended
  expires_at: {end}
  scopes:
    - action: "POST /v1/score"
- id: legacy-batch-transfer
  partner: oldbank-connect
  owner: ops-integrations@bank.example
  purpose: Nightly SFTP-replacement batch transfer (decommissioned)
  credentials: [cli_legacy_batch]
  status: revoked
  expires_at: {end}
  scopes:
    - action: "POST /v1/batches"
- id: newco-onboarding
  partner: newco
  owner: jane.doe@bank.example
  purpose: Onboard SME customers from the newco marketplace
  credentials: [cli_newco_onboarding]
  valid_from: {future}
  expires_at: {end}
  scopes:
    - action: "POST /v1/customers"
- id: cardops-blocking
  partner: cardops
  owner: ana.costa@bank.example
  purpose: Read card status for the support desk
  credentials: [cli_cardops]
  valid_from: {start}
  expires_at: {end}
  scopes:
    - action: "GET /v1/cards/*"
  emergency:
    from: {old_em_from}
    until: {old_em_until}
    reason: INC-4302 card fraud wave
    approved_by: ciso-oncall
    scopes:
      - action: "POST /v1/cards/*/block"
- id: statementhub-exports
  partner: statementhub
  owner: li.wei@bank.example
  purpose: Export monthly statements on customer request
  credentials: [cli_statementhub]
  valid_from: {start}
  expires_at: {end}
  rate_limit: 3/m
  scopes:
    - action: "GET /v1/statements/*"
- id: paystream-payouts-pilot
  partner: paystream
  owner: omar.said@bank.example
  purpose: Pilot of instant payouts, never launched
  credentials: [cli_paystream_pilot]
  valid_from: {start}
  expires_at: {end}
  idle_after: 30d
  scopes:
    - action: "POST /v1/instant-payouts"
- id: crm-sync
  partner: crmcloud
  purpose: Sync SME contact details to the CRM
  credentials: [cli_crm_sync]
  valid_from: {start}
  expires_at: {end}
  idle_after: 90d
  scopes:
    - action: "GET /v1/customers/*/contacts"
"#,
        start = d(-60),
        end = d(120),
        soon = d(10),
        long_ago = d(-400),
        expired = d(-10),
        future = d(7),
        em_from = hours(-1),
        em_until = hours(23),
        old_em_from = d(-3),
        old_em_until = d(-2),
    )
}

/// One kind of event the generator emits.
struct Kind {
    credential: &'static str,
    action: &'static str,
    extra: fn(u64) -> Value,
}

const COMPLIANT: &[Kind] = &[
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "POST /v1/payouts",
        extra: |i| json!({"environment": "prod", "data_classes": ["pii.basic"], "amount": (i % 400) as f64 * 10.0 + 50.0, "currency": "EUR", "actor": "acme-payroll"}),
    },
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "GET /v1/payouts/p_{i}",
        extra: |_| json!({"environment": "prod", "actor": "acme-subproc-ltd"}),
    },
    Kind {
        credential: "sa-ledgerly-recon",
        action: "GET /v1/accounts/acc_{i}/transactions",
        extra: |_| json!({"environment": "prod", "data_classes": ["financial.account"]}),
    },
    Kind {
        credential: "sa-ledgerly-recon",
        action: "GET /v1/accounts/acc_{i}/balance",
        extra: |_| json!({"environment": "prod"}),
    },
    Kind {
        credential: "arn:aws:iam::210987654321:role/veritas-kyc",
        action: "s3:GetObject",
        extra: |_| json!({"environment": "123456789012", "data_classes": ["pii.identity"]}),
    },
    Kind {
        credential: "arn:aws:iam::210987654321:role/veritas-kyc",
        action: "textract:AnalyzeDocument",
        extra: |_| json!({"environment": "123456789012"}),
    },
];

/// One violation per built-in rule, in the rule pack's order (the payouts above
/// also add up past acme's `max_daily_amount` within a minute).
const VIOLATIONS: &[Kind] = &[
    Kind {
        credential: "arn:aws:iam::210987654321:role/veritas-kyc",
        action: "s3:GetObject",
        extra: |_| json!({"data_classes": ["pii.identity"], "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"}),
    },
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "POST /v1/refunds",
        extra: |_| json!({"environment": "prod", "amount": 120.0, "currency": "EUR"}),
    },
    Kind {
        credential: "cli_unknown_7731",
        action: "GET /v1/accounts",
        extra: |_| json!({"environment": "prod"}),
    },
    Kind {
        credential: "sa-ledgerly-recon",
        action: "GET /v1/accounts/acc_{i}/balance",
        extra: |_| json!({"environment": "staging"}),
    },
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "POST /v1/payouts",
        extra: |_| json!({"environment": "prod", "data_classes": ["pii.basic", "pii.health"], "amount": 900.0, "currency": "EUR"}),
    },
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "POST /v1/payouts",
        extra: |_| json!({"environment": "prod", "amount": 75000.0, "currency": "EUR"}),
    },
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "POST /v1/payouts",
        extra: |_| json!({"environment": "prod", "amount": 300.0, "currency": "USD"}),
    },
    Kind {
        credential: "cli_adfunnel_export",
        action: "GET /v1/customers/export",
        extra: |_| json!({"data_classes": ["pii.basic"]}),
    },
    Kind {
        credential: "cli_newco_onboarding",
        action: "POST /v1/customers",
        extra: |_| json!({}),
    },
    Kind {
        credential: "cli_legacy_batch",
        action: "POST /v1/batches",
        extra: |_| json!({}),
    },
    Kind {
        credential: "cli_fraudscore",
        action: "POST /v1/score",
        extra: |_| json!({}),
    },
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "GET /v1/payouts/p_{i}",
        extra: |_| json!({"environment": "prod", "actor": "shadow-outsourcer-llc"}),
    },
    Kind {
        credential: "cli_acme_payouts_prod",
        action: "POST /v1/payouts/p_{i}/retry",
        extra: |_| json!({"environment": "prod"}),
    },
    Kind {
        credential: "cli_cardops",
        action: "POST /v1/cards/c_{i}/block",
        extra: |_| json!({}),
    },
    Kind {
        credential: "sa-ledgerly-recon",
        action: "GET /v1/accounts/acc_{i}/statements",
        extra: |_| json!({"environment": "prod"}),
    },
    Kind {
        credential: "arn:aws:iam::210987654321:role/veritas-kyc",
        action: "s3:GetObject",
        extra: |_| json!({"environment": "999988887777", "data_classes": ["pii.identity"]}),
    },
    // Each one in purpose, but the cycle comes round more often than its 3/m.
    Kind {
        credential: "cli_statementhub",
        action: "GET /v1/statements/s_{i}",
        extra: |_| json!({"environment": "prod"}),
    },
];

fn event(kind: &Kind, i: u64, ts: DateTime<Utc>) -> Value {
    let mut event = json!({
        "ts": ts.to_rfc3339_opts(SecondsFormat::Millis, true),
        "event_id": format!("demo-{i}"),
        "credential_id": kind.credential,
        "action": kind.action.replace("{i}", &(i % 97).to_string()),
        "source_ip": "198.51.100.7",
        "user_agent": "partner-sdk/2.3",
    });
    if let (Some(event), Value::Object(extra)) = (event.as_object_mut(), (kind.extra)(i)) {
        event.extend(extra);
    }
    event
}

async fn send(producer: &FutureProducer, topic: &str, kind: &Kind, event: Value) {
    let payload = event.to_string();
    let record = FutureRecord::to(topic)
        .key(kind.credential)
        .payload(&payload);
    if let Err((error, _)) = producer.send(record, Duration::from_secs(1)).await {
        tracing::warn!(%error, "Demo producer could not send.");
    }
}

/// Produces a little history first (the in-purpose traffic, as of eight days ago, so
/// that baselines are past their learning week), then ~200 events/s: one violation
/// every 40 events, cycling through the rules.
pub(super) async fn produce(producer: FutureProducer, topic: &'static str) {
    let last_week = Utc::now() - TimeDelta::days(8);
    for (i, kind) in COMPLIANT.iter().enumerate() {
        send(&producer, topic, kind, event(kind, i as u64, last_week)).await;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut i: u64 = COMPLIANT.len() as u64;
    loop {
        tick.tick().await;
        for _ in 0..10 {
            i += 1;
            let kind = if i.is_multiple_of(40) {
                &VIOLATIONS[(i / 40) as usize % VIOLATIONS.len()]
            } else {
                &COMPLIANT[i as usize % COMPLIANT.len()]
            };
            send(&producer, topic, kind, event(kind, i, Utc::now())).await;
        }
    }
}
