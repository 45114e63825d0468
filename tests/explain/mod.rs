//! `grantwatch explain` over an archive written by `replay --archive-out`.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

const GRANTS: &str = r#"
- id: ledgerly-read
  partner: ledgerly
  owner: sam.lee@bank.example
  approved_by: third-party-risk-board
  purpose: Read account balances for reconciliation
  credentials: [cli_ledgerly]
  valid_from: 2026-01-01T00:00:00Z
  expires_at: 2027-06-01T00:00:00Z
  environments: [prod]
  scopes:
    - action: "GET /v1/accounts/*"
"#;

fn event(i: u32, action: &str, actor: &str) -> String {
    serde_json::json!({
        "event_id": format!("e{i}"),
        "ts": format!("2026-11-30T09:00:{i:02}Z"),
        "credential_id": "cli_ledgerly",
        "action": action,
        "environment": "prod",
        "actor": actor,
    })
    .to_string()
}

#[test]
fn explain_lays_out_an_alert_with_its_evidence_and_a_suppression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("grants.yaml"), GRANTS).unwrap();
    std::fs::write(
        d.join("grantwatch.toml"),
        "[grants]\npaths = [\"grants.yaml\"]\n[archive]\nurl = \"archive\"\n",
    )
    .unwrap();
    // Hostile text in a field shown: an escape sequence and a carriage return.
    let events = [
        event(1, "GET /v1/accounts/acc_1", "ledgerly"),
        event(2, "DELETE /v1/accounts/acc_1", "ledgerly\u{1b}[2J\rOK"),
        event(3, "DELETE /v1/accounts/acc_2", "ledgerly"),
    ];
    std::fs::write(d.join("events.jsonl"), events.join("\n") + "\n").unwrap();
    let config = d.join("grantwatch.toml");
    let (code, stderr) = run_to_exit(
        &[
            "replay",
            "--config",
            config.to_str().unwrap(),
            "--input",
            "events.jsonl",
            "--archive-out",
            "archive",
            "--alerts-out",
            "alerts.jsonl",
        ],
        d,
    );
    assert_eq!(code, 0, "{stderr}");
    let alerts = read_jsonl(&d.join("alerts.jsonl"));
    let delete = alerts
        .iter()
        .find(|a| a["rule"] == "out_of_purpose_action")
        .expect("the delete alert");
    let id = delete["alert_id"].as_str().unwrap();

    let (code, out, stderr) =
        run_for_output(&["explain", id, "--config", config.to_str().unwrap()], d);
    assert_eq!(code, 0, "{stderr}");
    assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
    assert!(out.contains("ledgerly\\u{1b}[2J\\u{d}OK"), "{out}");
    for expected in [
        "high out_of_purpose_action · 2 events",
        "action DELETE /v1/accounts/{id}",
        "ledgerly-read (active) · ledgerly",
        "purpose: Read account balances for reconciliation",
        "refuses ledgerly-read `GET /v1/accounts/*`",
        "✗ action: `DELETE /v1/accounts/acc_1` against `GET /v1/accounts/*`",
        "EVIDENCE (2 of 2)",
        "match: {grant_id: \"ledgerly-read\", action: \"DELETE /v1/accounts/*\"}",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }

    let (code, json, _) = run_for_output(
        &[
            "explain",
            id,
            "--config",
            config.to_str().unwrap(),
            "--format",
            "json",
        ],
        d,
    );
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["alert"]["count"], 2);
    assert_eq!(
        json["alert"]["sample_actions"],
        serde_json::json!(["DELETE /v1/accounts/acc_1", "DELETE /v1/accounts/acc_2"]),
        "the archive keeps the raw actions"
    );
    assert_eq!(json["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(json["verdicts"][0]["allows"], false);
    // The suppression it proposes is one `suppressions check` accepts.
    let stanza = json["suppression"].as_str().unwrap();
    std::fs::write(d.join("suppressions.yaml"), stanza).unwrap();
    let (code, stderr) = run_to_exit(&["suppressions", "check", "suppressions.yaml"], d);
    assert_eq!(code, 0, "{stderr}");

    // What is missing is named, with exit 2.
    let (code, stderr) = run_to_exit(
        &["explain", "nope", "--config", config.to_str().unwrap()],
        d,
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no alert `nope` in the archive"),
        "{stderr}"
    );
    let (code, stderr) = run_to_exit(&["explain", id], Path::new(d));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("give --archive or [archive] url"),
        "{stderr}"
    );
}
