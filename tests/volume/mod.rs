//! Alert volume on a mixed stream: the real CloudTrail, EKS and GitHub audit logs in
//! shared/data beside generated REST traffic (ids in paths, internal service
//! identities, three partners, one misuse over hundreds of ids, one rogue partner
//! credential). The figures an analyst feels: alerts per 10,000 events, and the
//! share of alerts about a partner grant or a partner identity. Every true finding
//! must still be raised.
//!
//! `scripts/bench/alert-volume.sh` records the figures for this build and another
//! (`GRANTWATCH_VOLUME_BIN`, which also makes this test only print them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// Identities that are partners' though no grant binds them: alerts about them are
/// findings, not noise. (Callers from other AWS accounts in the Panther CloudTrail
/// sample are in scope too: the current build's `unknown_credential` alerts name
/// them, and the share counts them for any build.)
const PARTNER_IDENTITIES: &[&str] = &["cli_rogue"];

const REST_GRANTS: &str = r#"
- id: acme-payouts
  partner: acme-payroll
  owner: jane.doe@bank.example
  purpose: Initiate payroll payouts and read their status
  credentials: [cli_acme]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  scopes:
    - action: "POST /v1/payouts"
    - action: "GET /v1/payouts/*"
- id: ledgerly-read
  partner: ledgerly
  owner: sam.lee@bank.example
  purpose: Read account balances and transactions for reconciliation
  credentials: [cli_ledgerly]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  scopes:
    - action: "GET /v1/accounts/*"
    - action: "GET /v1/accounts/*/transactions"
- id: cardops-blocking
  partner: cardops
  owner: ops@bank.example
  purpose: Block lost or stolen cards
  credentials: [cli_cardops]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  scopes:
    - action: "POST /v1/cards/*/block"
"#;

/// The REST stream's scope: the bank's own services call the same API.
const REST_CONFIG: &str =
    "[grants]\npaths = [\"rest-grants.yaml\"]\n[scope]\nexclude = [\"svc-*\"]\n";

/// Two hours of gateway traffic, deterministic: (lines, what it holds).
fn rest_traffic() -> Vec<String> {
    let start_ms: i64 = 1_796_025_600_000; // 2026-11-30T08:00:00Z
    let mut lines = Vec::new();
    let mut push = |i: usize, credential: &str, action: String| {
        lines.push(
            json!({
                "event_id": format!("rest-{i}"),
                "ts": start_ms + i as i64 * 360,
                "credential_id": credential,
                "action": action,
            })
            .to_string(),
        );
    };
    for i in 0..20_000 {
        let n = i * 7919 % 100_003;
        match i % 20 {
            // The partners, in purpose, with ids in their paths.
            0..=3 => push(i, "cli_acme", format!("GET /v1/payouts/p_{n}")),
            4 => push(i, "cli_acme", "POST /v1/payouts".into()),
            5..=8 => push(
                i,
                "cli_ledgerly",
                format!("GET /v1/accounts/acc_{n}/transactions"),
            ),
            9 => push(i, "cli_cardops", format!("POST /v1/cards/c_{n}/block")),
            // The bank's own services.
            10..=15 => push(i, "svc-billing", format!("GET /internal/invoices/{n}")),
            16 => push(i, "svc-reporting", format!("GET /v1/accounts/acc_{n}")),
            // Ledgerly deletes accounts it may only read: one misuse, many ids.
            17 if i < 6_000 => push(i, "cli_ledgerly", format!("DELETE /v1/accounts/acc_{n}")),
            // A partner credential nobody granted.
            18 if i % 200 == 18 => push(i, "cli_rogue", format!("GET /v1/accounts/acc_{n}")),
            _ => push(i, "cli_acme", format!("GET /v1/payouts/{}", 1000 + n)),
        }
    }
    lines
}

/// One log of the mixed stream and how it is read.
struct Input {
    name: &'static str,
    format: &'static str,
    path: PathBuf,
    grants: PathBuf,
    /// `[scope]` and friends; left out for a build that predates them.
    config: Option<PathBuf>,
}

fn workload(dir: &Path) -> Vec<Input> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/data");
    assert!(
        shared.is_dir(),
        "shared data expected at {}",
        shared.display()
    );
    std::fs::write(dir.join("rest.jsonl"), rest_traffic().join("\n") + "\n").unwrap();
    std::fs::write(dir.join("rest-grants.yaml"), REST_GRANTS).unwrap();
    std::fs::write(dir.join("rest.toml"), REST_CONFIG).unwrap();
    let rest_grants = dir.join("rest-grants.yaml");
    let panther = shared.join("panther-fixtures");
    vec![
        Input {
            name: "rest",
            format: "native",
            path: dir.join("rest.jsonl"),
            grants: rest_grants.clone(),
            config: Some(dir.join("rest.toml")),
        },
        Input {
            name: "cloudtrail-invictus",
            format: "cloudtrail",
            path: shared.join("cloudtrail-invictus/raw"),
            grants: root.join("examples/invictus/grants.yaml"),
            config: None,
        },
        Input {
            name: "cloudtrail-panther",
            format: "cloudtrail",
            path: panther.join("AWS.CloudTrail.jsonl"),
            grants: rest_grants.clone(),
            config: None,
        },
        Input {
            name: "eks-panther",
            format: "k8s-audit",
            path: panther.join("Amazon.EKS.Audit.jsonl"),
            grants: rest_grants.clone(),
            config: None,
        },
        Input {
            name: "github-panther",
            format: "github-audit",
            path: panther.join("GitHub.Audit.jsonl"),
            grants: rest_grants,
            config: None,
        },
    ]
}

/// What one build raised over the whole workload.
struct Volume {
    events: u64,
    /// Each alert with the input that raised it.
    alerts: Vec<(&'static str, Value)>,
}

impl Volume {
    fn per_10k(&self) -> f64 {
        self.alerts.len() as f64 * 10_000.0 / self.events as f64
    }

    /// Alerts naming a partner grant or an in-scope identity.
    fn about_partners(&self, in_scope: &BTreeSet<String>) -> usize {
        self.alerts
            .iter()
            .filter(|(_, a)| {
                a["grant_id"].is_string()
                    || in_scope.contains(a["credential_id"].as_str().unwrap_or(""))
            })
            .count()
    }

    fn of_rule<'a>(&'a self, rule: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.alerts
            .iter()
            .map(|(_, a)| a)
            .filter(move |a| a["rule"] == rule)
    }
}

fn replay_all(bin: &Path, dir: &Path, with_config: bool) -> Volume {
    let mut volume = Volume {
        events: 0,
        alerts: Vec::new(),
    };
    for input in workload(dir) {
        let out = dir.join(format!("{}.alerts.jsonl", input.name));
        let mut command = Command::new(bin);
        command
            .args(["replay", "--format", input.format, "--input"])
            .arg(&input.path)
            .arg("--grants")
            .arg(&input.grants)
            .arg("--alerts-out")
            .arg(&out)
            .current_dir(dir);
        if let (true, Some(config)) = (with_config, &input.config) {
            command.arg("--config").arg(config);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", input.name);
        let events: u64 = stderr
            .split("replayed ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: no event count in {stderr}", input.name));
        volume.events += events;
        let alerts = crate::support::read_jsonl(&out);
        volume
            .alerts
            .extend(alerts.into_iter().map(|a| (input.name, a)));
    }
    volume
}

#[test]
fn a_mixed_stream_alerts_about_partners_and_misses_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let this = replay_all(
        Path::new(env!("CARGO_BIN_EXE_grantwatch")),
        dir.path(),
        true,
    );
    // In scope: the partner identities, and whatever this build's scope took in.
    let in_scope: BTreeSet<String> = this
        .of_rule("unknown_credential")
        .filter_map(|a| a["credential_id"].as_str().map(str::to_owned))
        .chain(PARTNER_IDENTITIES.iter().map(|&c| c.to_owned()))
        .collect();
    let other = std::env::var_os("GRANTWATCH_VOLUME_BIN")
        .map(|bin| replay_all(Path::new(&bin), dir.path(), false));
    let measured = other.as_ref().unwrap_or(&this);
    let about = measured.about_partners(&in_scope);
    // One line for scripts/bench/alert-volume.sh to record.
    println!(
        "alert-volume: events={} alerts={} per_10k={:.1} about_partners={} share={:.3}",
        measured.events,
        measured.alerts.len(),
        measured.per_10k(),
        about,
        about as f64 / measured.alerts.len().max(1) as f64
    );
    if other.is_some() {
        return;
    }
    let volume = &this;

    // Every true finding is raised: the misuse as one alert per hour window with
    // its full count, the rogue credential, and the invictus attack.
    let deletes: Vec<&Value> = volume
        .of_rule("out_of_purpose_action")
        .filter(|a| a["action"] == "DELETE /v1/accounts/{id}")
        .collect();
    assert!(!deletes.is_empty() && deletes.len() <= 2, "{deletes:?}");
    assert!(deletes.iter().all(|a| a["grant_id"] == "ledgerly-read"));
    let deleted: u64 = deletes.iter().map(|a| a["count"].as_u64().unwrap()).sum();
    assert_eq!(deleted, 300);
    assert!(
        deletes
            .iter()
            .all(|a| a["sample_actions"].as_array().unwrap().len() == 10)
    );
    assert!(
        volume
            .of_rule("unknown_credential")
            .any(|a| a["credential_id"] == "cli_rogue")
    );
    let invictus: BTreeSet<&str> = volume
        .of_rule("out_of_purpose_action")
        .filter_map(|a| a["grant_id"].as_str())
        .collect();
    for grant in [
        "hosting-partner-terraform",
        "reporting-host-instance-role",
        "cspm-posture-scan",
    ] {
        assert!(invictus.contains(grant), "{grant}: {invictus:?}");
    }
    // And little else: nothing about the bank's own services, a cloud's or a
    // cluster's own identities, or people.
    for (input, alert) in &volume.alerts {
        if alert["grant_id"].is_string() {
            continue;
        }
        let credential = alert["credential_id"].as_str().unwrap_or("");
        let partner = match *input {
            "rest" => PARTNER_IDENTITIES.contains(&credential),
            // Callers from another account, never an AWS service.
            "cloudtrail-invictus" | "cloudtrail-panther" => !credential.ends_with(".amazonaws.com"),
            "github-panther" => credential.contains(':'),
            _ => false,
        };
        assert!(partner, "{input}: not about a partner: {alert}");
    }
    assert!(volume.per_10k() < 100.0, "{:.1}", volume.per_10k());
}
