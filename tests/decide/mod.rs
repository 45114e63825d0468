//! `grantwatch decide` as a gateway sees it: JSON decisions, Envoy's `ext_authz`
//! answers, a reload that widens a grant, the metrics, and a refusal to start on
//! grants that do not load.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

const GRANTS: &str = "- id: payouts\n  partner: acme\n  owner: jane@bank.example\n  \
    approved_by: board\n  purpose: Pay out salaries\n  credentials: [cli_acme]\n  \
    valid_from: 2026-01-01T00:00:00Z\n  expires_at: 2099-01-01T00:00:00Z\n  \
    environments: [prod]\n  scopes:\n    - action: \"POST /v1/payouts\"\n      \
    max_amount: 1000\n      currencies: [EUR]\n    - action: \"GET /v1/payouts/*\"\n";

fn config(dir: &Path, grants: &Path) -> std::path::PathBuf {
    let config = dir.join("grantwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"{}\"\ngroup_id = \"decide\"\ntopics = [\"decide\"]\n\
             [grants]\npaths = [\"{}\"]\nreload_interval = \"200ms\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n",
            brokers(),
            grants.display()
        ),
    )
    .unwrap();
    config
}

async fn decide(client: &reqwest::Client, base: &str, event: Value) -> (u16, Value) {
    let response = client
        .post(format!("{base}/v1/decide"))
        .body(event.to_string())
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn decide_answers_gateways_with_the_streams_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let grants = dir.path().join("grants.yaml");
    std::fs::write(&grants, GRANTS).unwrap();
    let config = config(dir.path(), &grants);
    let addr = format!("127.0.0.1:{}", free_port());
    let log = dir.path().join("decide.log");
    let decisions = unique("decisions");
    let mut child = Command::new(env!("CARGO_BIN_EXE_grantwatch"))
        .args([
            "decide",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &addr,
            "--decisions-topic",
            &decisions,
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(Instant::now() < deadline, "decide did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let base = format!("http://{addr}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let payout = json!({"credential_id": "cli_acme", "action": "POST /v1/payouts",
                            "environment": "prod", "amount": 200, "currency": "EUR"});
        let (status, allowed) = decide(&client, &base, payout.clone()).await;
        assert_eq!(status, 200, "{allowed}");
        assert_eq!(allowed["verdict"], "allow", "{allowed}");
        assert_eq!(allowed["grant_id"], "payouts");
        assert_eq!(allowed["scope"], "POST /v1/payouts");
        assert_eq!(allowed["owner"], "jane@bank.example");
        let hash = allowed["grants"]["hash"].as_str().unwrap().to_owned();
        assert_eq!(hash.len(), 64);
        assert!(
            allowed["state"].as_str().unwrap().starts_with("shared"),
            "{allowed}"
        );

        let mut over = payout.clone();
        over["amount"] = json!(5000);
        over["currency"] = json!("USD");
        let (_, denied) = decide(&client, &base, over).await;
        assert_eq!(denied["verdict"], "deny", "{denied}");
        let rules: Vec<&str> = denied["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["advisory"] == false)
            .filter_map(|r| r["rule"].as_str())
            .collect();
        assert!(
            rules.contains(&"amount_over_limit") && rules.contains(&"currency_not_allowed"),
            "{denied}"
        );
        assert_eq!(denied["owner"], "jane@bank.example");

        let (status, refused) = decide(
            &client,
            &base,
            json!({"credential_id": 5, "action": "GET /"}),
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            refused.as_str().unwrap().contains("credential_id"),
            "{refused}"
        );

        // Envoy's ext_authz: the original method and path, the client id in a header.
        let check = |method: reqwest::Method, path: &str, client_id: Option<&str>| {
            let mut request = client
                .request(method, format!("{base}/ext_authz{path}"))
                .header("x-grantwatch-environment", "prod");
            if let Some(id) = client_id {
                request = request.header("x-client-id", id);
            }
            request.send()
        };
        let read = check(
            reqwest::Method::GET,
            "/v1/payouts/p_1?expand=1",
            Some("cli_acme"),
        )
        .await
        .unwrap();
        assert_eq!(read.status().as_u16(), 200);
        assert_eq!(read.headers()["x-grantwatch-decision"], "allow");
        let refund = check(reqwest::Method::POST, "/v1/refunds", Some("cli_acme"))
            .await
            .unwrap();
        assert_eq!(refund.status().as_u16(), 403);
        assert_eq!(
            refund.headers()["x-grantwatch-reasons"],
            "out_of_purpose_action"
        );
        let stranger = check(
            reqwest::Method::GET,
            "/v1/payouts/p_1",
            Some("cli_stranger"),
        )
        .await
        .unwrap();
        assert_eq!(stranger.status().as_u16(), 403);
        assert_eq!(
            stranger.headers()["x-grantwatch-reasons"],
            "unknown_credential"
        );
        let anonymous = check(reqwest::Method::GET, "/v1/payouts/p_1", None)
            .await
            .unwrap();
        assert_eq!(anonymous.status().as_u16(), 403);

        // A reload that widens the grant allows refunds, under a new grant set hash.
        std::fs::write(
            &grants,
            format!("{GRANTS}    - action: \"POST /v1/refunds\"\n"),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let refund = check(reqwest::Method::POST, "/v1/refunds", Some("cli_acme"))
                .await
                .unwrap();
            if refund.status().as_u16() == 200 {
                assert_ne!(refund.headers()["x-grantwatch-grants"], hash.as_str());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the widened grant was not reloaded"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let metrics = text
        .lines()
        .find_map(|l| l.split("listen=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("metrics address")
        .to_owned();
    let (_, scrape) = http_get(&metrics, "/metrics", None);
    let denied = "grantwatch_decisions_total{verdict=\"deny\",reason=\"out_of_purpose_action\"}";
    assert!(
        try_sample(&scrape, denied).is_some_and(|n| n >= 1.0),
        "{scrape}"
    );
    // A graceful stop delivers what it has not yet produced.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );

    // Every decision reached the topic as a native event, a denial as `denied`.
    let produced: Vec<Value> = read_all(&decisions).iter().map(Record::json).collect();
    assert!(produced.len() >= 7, "{produced:#?}");
    let refunds: Vec<&Value> = produced
        .iter()
        .filter(|e| e["action"] == "POST /v1/refunds")
        .collect();
    assert_eq!(refunds[0]["outcome"], "denied");
    assert_eq!(refunds[0]["decision_reasons"], "out_of_purpose_action");
    assert_eq!(refunds.last().unwrap()["decision"], "allow");

    // Grants that do not load: refused at start, exit 2.
    std::fs::write(&grants, "- id: broken\n  scopes: nope\n").unwrap();
    let (status, output) = run_to_exit(
        &[
            "decide",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("grants.yaml"), "{output}");
}
