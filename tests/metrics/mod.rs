//! `/metrics` after a known scenario: the values, promtool's lint, and a real
//! Prometheus scraping it.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// Runs the scenario to its sentinel and leaves grantwatch running.
fn scenario_instance(test: &str, dir: &std::path::Path) -> Grantwatch {
    let names = Names::new(test);
    let config = write_config(dir, &names, &fixture("scenario/grants.yaml"), "");
    produce_lines(&names.actions, &keyed(&scenario_with_sentinel()));
    let mut gw = Grantwatch::start(&config);
    wait_for_event_alert(&names.alerts, "sentinel", Duration::from_secs(90), &mut gw);
    gw
}

/// Metric names (as samples name them) in a scrape.
pub fn scraped_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_owned))
        .collect()
}

#[test]
fn metrics_after_the_scenario_have_the_expected_values_and_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let gw = scenario_instance("metrics", dir.path());
    let addr = gw.metrics_addr();
    // Consumer lag comes with librdkafka's statistics, every 5 s: wait for the first.
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (status, text) = http_get(&addr, "/metrics", None);
        assert_eq!(status, 200);
        if text.contains("grantwatch_consumer_lag{") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no consumer lag reported:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        sample(&text, "grantwatch_consumer_lag{"),
        0.0,
        "drained to the end"
    );

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // acme: 12 actions, 5 flagged above info (the emergency one is info only).
    let acme = r#"grant="acme-payroll-payouts",partner="acme-payroll""#;
    assert_eq!(
        sample(
            &text,
            &format!("grantwatch_actions_total{{{acme},verdict=\"in_purpose\"}}")
        ),
        7.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("grantwatch_actions_total{{{acme},verdict=\"out_of_purpose\"}}")
        ),
        5.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_actions_total{grant="",partner="",verdict="unbound"}"#
        ),
        2.0
    );
    let drift = sample(&text, &format!("grantwatch_grant_drift_ratio{{{acme}}}"));
    assert!((drift - 5.0 / 12.0).abs() < 1e-9, "drift {drift}");
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_grant_drift_ratio{grant="veritas-kyc-documents""#
        ),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_alerts_total{rule="amount_over_limit",severity="high"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_alerts_total{rule="unknown_credential",severity="high"}"#
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_alerts_total{rule="emergency_access_used",severity="info"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&text, r#"grantwatch_events_total{result="decoded"}"#),
        24.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_grant_scopes{grant="acme-payroll-payouts",state="granted"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_grant_scopes{grant="acme-payroll-payouts",state="used"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_grant_scopes{grant="ledgerly-reconciliation",state="used"}"#
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_grant_expiry_timestamp_seconds{grant="acme-payroll-payouts"}"#
        ),
        1803859200.0
    );
    assert_eq!(
        sample(
            &text,
            r#"grantwatch_grant_last_seen_timestamp_seconds{grant="cardops-support"}"#
        ),
        1796029223.0
    );
    assert_eq!(sample(&text, "grantwatch_grants_loaded"), 8.0);
    assert_eq!(
        sample(&text, r#"grantwatch_grants_reload_total{result="ok"}"#),
        1.0
    );
    // Label values come from grants, never from events: no credential or action leaks in.
    assert!(!text.contains("cli_unknown_7731") && !text.contains("/v1/refunds"));

    // Every metric the alert rules and the dashboard query exists in this scrape.
    let names = scraped_names(&text);
    for name in crate::deploy::queried_metric_names() {
        assert!(
            names.contains(&name),
            "{name} is queried by deploy/ but not exposed"
        );
    }

    assert_eq!(http_get(&addr, "/healthz", None).0, 200);
    assert_eq!(http_get(&addr, "/readyz", None).0, 200);
    let (_, openmetrics) = http_get(
        &addr,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert!(openmetrics.ends_with("# EOF\n"), "OpenMetrics on request");
    gw.stop();
}

#[test]
fn a_real_prometheus_scrapes_drift_and_alert_counts() {
    let dir = tempfile::tempdir().unwrap();
    let gw = scenario_instance("prometheus", dir.path());
    let target = gw.metrics_addr();
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: grantwatch\n    static_configs:\n      - targets: [\"{target}\"]\n"),
    )
    .unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus (apt-get install prometheus)");
    let query = |q: &str| -> Option<Vec<Value>> {
        let path = format!(
            "/api/v1/query?query={}",
            q.replace(' ', "%20")
                .replace('"', "%22")
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('(', "%28")
                .replace(')', "%29")
        );
        let (status, body) = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| http_get(&format!("127.0.0.1:{port}"), &path, None))?;
        if status != 200 {
            return None;
        }
        let v: Value = serde_json::from_str(&body).ok()?;
        let result = v["data"]["result"].as_array()?.clone();
        (!result.is_empty()).then_some(result)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let drift = loop {
        if let Some(r) = query(r#"grantwatch_grant_drift_ratio{grant="acme-payroll-payouts"}"#) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped grantwatch:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let value: f64 = drift[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((value - 5.0 / 12.0).abs() < 1e-9, "drift {value}");
    assert_eq!(drift[0]["metric"]["partner"], "acme-payroll");
    // Scheduled findings depend on the day the suite runs: count event rules only.
    let alerts = query(
        r#"sum(grantwatch_alerts_total{rule!~"idle_grant|expiring_grant_in_use|grant_without_owner|emergency_window_open"})"#,
    )
    .expect("alerts_total");
    assert_eq!(
        alerts[0]["value"][1], "14",
        "13 scenario alerts plus the sentinel"
    );
    let by_rule =
        query(r#"grantwatch_alerts_total{rule="out_of_purpose_action"}"#).expect("by rule");
    assert_eq!(by_rule[0]["metric"]["severity"], "high");
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    gw.stop();
}

/// A restarted instance that is caught up and idle reads nothing, and librdkafka
/// reports no lag for it: the gauge must still say 0, not vanish.
#[test]
fn an_idle_caught_up_instance_reports_lag_zero() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("idle-lag");
    let config = write_config(dir.path(), &names, &fixture("scenario/grants.yaml"), "");
    produce_lines(&names.actions, &keyed(&scenario_with_sentinel()));
    let mut gw = Grantwatch::start(&config);
    wait_for_event_alert(&names.alerts, "sentinel", Duration::from_secs(90), &mut gw);
    gw.stop();
    let gw = Grantwatch::start(&config);
    let addr = gw.metrics_addr();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = http_get(&addr, "/metrics", None);
        if let Some(lag) = try_sample(&text, "grantwatch_consumer_lag{") {
            assert_eq!(lag, 0.0, "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no consumer lag while idle:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
