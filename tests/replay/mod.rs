//! `grantwatch replay` over real CloudTrail: the README walkthrough, checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::*;

#[test]
fn replaying_the_invictus_cloudtrail_finds_the_attack_outside_the_declared_purposes() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let input = root.join("../shared/data/cloudtrail-invictus/raw");
    assert!(
        input.is_dir(),
        "shared data expected at {}",
        input.display()
    );
    let config = root.join("examples/invictus/grantwatch.toml");
    let args = [
        "--format",
        "cloudtrail",
        "--input",
        input.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let alerts = replay_alerts(
        &args,
        dir.path(),
        "replayed 2900 events from 55 files (83 out of partner scope, 0 records rejected)",
    );

    // Out-of-purpose actions per grant, summed over alert windows.
    let mut by_grant: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in alerts
        .iter()
        .filter(|a| a["rule"] == "out_of_purpose_action")
    {
        by_grant
            .entry(a["grant_id"].as_str().unwrap().into())
            .or_default()
            .insert(a["action"].as_str().unwrap().into());
    }
    let terraform = &by_grant["hosting-partner-terraform"];
    for stolen in [
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "kms:Decrypt",
        "iam:ListRolePolicies",
    ] {
        assert!(
            terraform.contains(stolen),
            "{stolen} outside the Terraform grant's purpose: {terraform:?}"
        );
    }
    assert!(
        !terraform
            .iter()
            .any(|a| a.starts_with("ec2:") || a.starts_with("rds:")),
        "in-purpose ec2/rds stay quiet"
    );
    assert_eq!(
        by_grant["reporting-host-instance-role"],
        BTreeSet::from(["ec2:DescribeInstances".to_owned()]),
        "the stolen instance credentials enumerating EC2"
    );
    assert!(by_grant["cspm-posture-scan"].contains("iam:GetAccountAuthorizationDetails"));
    // Principals without a grant are unknown credentials, and the two IAM users the
    // example treats as partner credentials were driven from a browser (NHI10);
    // nothing else is raised.
    let rules: BTreeSet<&str> = alerts.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        BTreeSet::from([
            "human_use_of_credential",
            "out_of_purpose_action",
            "unknown_credential"
        ])
    );
    let human: BTreeSet<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "human_use_of_credential")
        .map(|a| a["grant_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        human,
        BTreeSet::from(["cspm-posture-scan", "hosting-partner-terraform"])
    );
    let unknown: BTreeSet<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "unknown_credential")
        .map(|a| a["credential_id"].as_str().unwrap())
        .collect();
    // Only the identities `[scope]` names: the attack's Stratus roles and user, never
    // an AWS service principal or the account's own service-linked roles.
    assert_eq!(unknown.len(), 7, "{unknown:?}");
    assert!(
        unknown.iter().all(|c| c.contains("/stratus-red-team-")),
        "{unknown:?}"
    );

    // With the default scope (no config), the account's own identities are not
    // partners: the findings about the grants stay, and no unknown_credential.
    let grants = root.join("examples/invictus/grants.yaml");
    let default_out = dir.path().join("default.jsonl");
    let (code, stderr) = run_to_exit(
        &[
            "replay",
            "--format",
            "cloudtrail",
            "--input",
            input.to_str().unwrap(),
            "--grants",
            grants.to_str().unwrap(),
            "--alerts-out",
            default_out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let quiet = read_jsonl(&default_out);
    assert!(quiet.iter().all(|a| a["rule"] != "unknown_credential"));
    let in_purpose = |alerts: &[serde_json::Value]| {
        alerts
            .iter()
            .filter(|a| a["rule"] != "unknown_credential")
            .map(|a| a["alert_id"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(in_purpose(&quiet), in_purpose(&alerts));
}

/// A gateway's log read with a preset, and the same log with a mapping file: the
/// partner's refund is outside its purpose, the unbound basic-auth user is unknown.
#[test]
fn replaying_a_gateway_log_with_a_preset_or_a_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let input = root.join("tests/gateways/nginx.jsonl");
    std::fs::write(dir.path().join("grants.yaml"), crate::gateways::GRANTS).unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        "ts = \"/time_iso8601\"\ncredential_id = [\"/client_id\", \"/remote_user\"]\n\
         action = \"{/request_method} {/request_uri}\"\n\
         outcome = { from = \"/status\", map = { \"2*\" = \"success\", \"401\" = \"denied\", \"*\" = \"failure\" } }\n",
    )
    .unwrap();
    for how in [["--preset", "nginx"], ["--mapping", "gateway.toml"]] {
        let out = dir.path().join(format!("{}.jsonl", how[1]));
        let args = [
            "replay",
            how[0],
            how[1],
            "--input",
            input.to_str().unwrap(),
            "--grants",
            "grants.yaml",
            "--alerts-out",
            out.to_str().unwrap(),
        ];
        let (code, stderr) = run_to_exit(&args, dir.path());
        assert_eq!(code, 0, "{how:?}: {stderr}");
        assert!(stderr.contains("replayed 3 events"), "{how:?}: {stderr}");
        let alerts = read_jsonl(&out);
        let found: BTreeSet<(&str, &str)> = alerts
            .iter()
            .map(|a| {
                (
                    a["rule"].as_str().unwrap(),
                    a["credential_id"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(
            found.contains(&("out_of_purpose_action", "partner-acme")),
            "{how:?}: {found:?}"
        );
        assert!(
            found.contains(&("unknown_credential", "billing-batch")),
            "{how:?}: {found:?}"
        );
    }
    // A mistake in the mapping file is refused at start, naming the file and the key.
    std::fs::write(
        dir.path().join("bad.toml"),
        "ts = \"time\"\ncredential_id = \"/c\"\naction = \"/a\"\n",
    )
    .unwrap();
    let args = [
        "replay",
        "--mapping",
        "bad.toml",
        "--input",
        input.to_str().unwrap(),
        "--grants",
        "grants.yaml",
        "--alerts-out",
        "x.jsonl",
    ];
    let (code, stderr) = run_to_exit(&args, dir.path());
    assert_ne!(code, 0);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("`ts`"),
        "{stderr}"
    );
}
