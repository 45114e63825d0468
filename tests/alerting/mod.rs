//! Alerts SOC analysts can live with: delivery to a real Alertmanager.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(90);

/// A real Alertmanager (Debian's prometheus-alertmanager) on a loopback port.
struct Alertmanager {
    child: Child,
    addr: String,
}

impl Alertmanager {
    fn start(dir: &std::path::Path) -> Self {
        Self::start_at(dir, format!("127.0.0.1:{}", free_port()))
    }

    fn start_at(dir: &std::path::Path, addr: String) -> Self {
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // One node: no gossip port to collide with other test runs.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("alertmanager.log")).unwrap())
            .spawn()
            .expect("prometheus-alertmanager (apt-get install prometheus-alertmanager)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err()
            || http_get(&addr, "/-/ready", None).0 != 200
        {
            assert!(Instant::now() < deadline, "alertmanager did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, addr }
    }

    fn alerts(&self) -> Vec<Value> {
        let (status, body) = http_get(&self.addr, "/api/v2/alerts", None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An instance judging the scenario (and its sentinel) with `alerts` lines added.
fn scenario_instance(dir: &std::path::Path, names: &Names, alerts: &str) -> Grantwatch {
    let config = write_config_with(
        dir,
        names,
        &fixture("scenario/grants.yaml"),
        &Extra {
            alerts,
            ..Extra::default()
        },
    );
    produce_lines(&names.actions, &keyed(&scenario_with_sentinel()));
    Grantwatch::start(&config)
}

#[test]
fn alerts_reach_a_real_alertmanager_with_routing_labels() {
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(dir.path());
    let names = Names::new("alertmanager");
    let alerts_extra = format!("alertmanager_url = \"http://{}\"", am.addr);
    let mut gw = scenario_instance(dir.path(), &names, &alerts_extra);
    // The Kafka alert for the last event is written only once every sink, the
    // Alertmanager among them, acknowledged its batch.
    wait_for_event_alert(&names.alerts, "sentinel", WAIT, &mut gw);
    let log = gw.stop();

    let posted = am.alerts();
    let out_of_purpose = posted
        .iter()
        .find(|a| a["labels"]["alertname"] == "out_of_purpose_action")
        .unwrap_or_else(|| panic!("no out_of_purpose_action in {posted:#?}\n{log}"));
    let labels = &out_of_purpose["labels"];
    assert_eq!(labels["rule"], "out_of_purpose_action");
    assert_eq!(labels["severity"], "high");
    assert_eq!(labels["grant"], "acme-payroll-payouts");
    assert_eq!(labels["partner"], "acme-payroll");
    assert_eq!(labels["owner"], "jane.doe@bank.example");
    let annotations = &out_of_purpose["annotations"];
    assert_eq!(
        annotations["purpose"],
        "Initiate payroll payouts for SME customers"
    );
    assert!(
        annotations["reason"]
            .as_str()
            .unwrap()
            .contains("POST /v1/refunds"),
        "{annotations}"
    );
    assert!(annotations["summary"].as_str().is_some());
    // Every event rule of the scenario arrived; the unknown credential by credential.
    let rules: std::collections::BTreeSet<&str> = posted
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect();
    for rule in [
        "unknown_credential",
        "amount_over_limit",
        "emergency_overrun",
    ] {
        assert!(rules.contains(rule), "{rule} missing: {rules:?}");
    }
    let unknown = posted
        .iter()
        .find(|a| a["labels"]["credential"] == "cli_unknown_7731")
        .expect("unknown credential");
    assert_eq!(unknown["labels"]["owner"], "unowned");
}

#[test]
fn alerts_can_be_written_as_ocsf_detection_findings() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("ocsf");
    let mut gw = scenario_instance(dir.path(), &names, "format = \"ocsf\"");
    let names_sentinel = |f: &Value| {
        f["finding_info"]["related_events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["uid"] == "sentinel"))
    };
    let findings = wait_until(&mut gw, WAIT, "a finding for the sentinel", || {
        let findings = alerts(&names.alerts);
        if findings.iter().any(names_sentinel) {
            Ok(findings)
        } else {
            Err(format!("{findings:#?}"))
        }
    });
    gw.stop();
    assert!(
        findings
            .iter()
            .all(|f| f["class_uid"] == 2004 && f["type_uid"] == 200401)
    );
    let amount = findings
        .iter()
        .find(|f| f["finding_info"]["analytic"]["name"] == "amount_over_limit")
        .expect("amount finding");
    assert_eq!(amount["severity_id"], 4);
    assert_eq!(amount["resources"][0]["uid"], "acme-payroll-payouts");
    assert_eq!(
        amount["finding_info"]["related_events"][0]["uid"],
        "bad-amount"
    );
    // The file sink writes the same shape.
    let file = read_jsonl(&dir.path().join("alerts.jsonl"));
    assert!(file.iter().all(|f| f["class_uid"] == 2004), "{file:?}");
}

#[test]
fn suppressions_silence_matching_alerts_until_they_expire_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("suppress");
    let suppressions = dir.path().join("suppressions.yaml");
    std::fs::write(
        &suppressions,
        "- rule: out_of_purpose_action\n  match: {grant_id: acme-payroll-payouts, action: \"POST /v1/refunds\"}\n  \
         reason: Refund pilot CHG-1234\n  owner: jane.doe@bank.example\n  expires_at: 2099-01-01T00:00:00Z\n\
         - rule: amount_over_limit\n  match: {grant_id: acme-payroll-payouts}\n  reason: Year-end bonus run\n  \
         owner: jane.doe@bank.example\n  expires_at: 2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let alerts_extra = format!("suppressions = [\"{}\"]", suppressions.display());
    let mut gw = scenario_instance(dir.path(), &names, &alerts_extra);
    let alerts = wait_for_event_alert(&names.alerts, "sentinel", WAIT, &mut gw);
    let text = wait_for_metrics(&mut gw, Duration::from_secs(30), "suppressed count", |m| {
        m.contains("grantwatch_alerts_suppressed_total{rule=\"out_of_purpose_action\"} 1")
    });
    gw.stop();
    let rules: Vec<&str> = alerts.iter().filter_map(|a| a["rule"].as_str()).collect();
    assert!(!rules.contains(&"out_of_purpose_action"), "{rules:?}");
    assert!(
        rules.contains(&"amount_over_limit"),
        "an expired suppression no longer applies: {rules:?}"
    );
    assert!(!text.contains("grantwatch_alerts_suppressed_total{rule=\"amount_over_limit\"}"));

    // Linted like grants: the expired one is a warning, an unknown rule an error.
    let file = suppressions.display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_grantwatch"))
        .args(["suppressions", "check", "--at", "2026-12-01", &file])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("suppressions.yaml:10: warning[expired]"),
        "{report}"
    );
    std::fs::write(
        &suppressions,
        std::fs::read_to_string(&suppressions)
            .unwrap()
            .replace("rule: amount_over_limit", "rule: amount_over_limits"),
    )
    .unwrap();
    let (code, _) = run_to_exit(&["suppressions", "check", &file], dir.path());
    assert_eq!(code, 1, "unknown rule");
    let (code, _) = run_to_exit(&["suppressions", "check", "/nonexistent.yaml"], dir.path());
    assert_eq!(code, 2);
}

#[test]
fn repeats_update_one_alert_and_rereading_everything_raises_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("dedup");
    let state_topic = format!("{}.shared-state", names.group);
    let kafka_extra = format!("state_topic = \"{state_topic}\"");
    let config = write_config_with(
        dir.path(),
        &names,
        &fixture("scenario/grants.yaml"),
        &Extra {
            kafka: &kafka_extra,
            alerts: "update_interval = \"1s\"",
            ..Extra::default()
        },
    );
    let refund = |id: &str, second: u32| {
        json!({"ts": format!("2026-11-30T09:10:{second:02}Z"), "event_id": id,
               "credential_id": "cli_acme_payouts_prod", "action": "POST /v1/refunds",
               "environment": "prod"})
    };
    produce_lines(
        &names.actions,
        &keyed(&[refund("r1", 1), refund("r2", 2), refund("r3", 3)]),
    );
    let mut gw = Grantwatch::start(&config);
    wait_for_event_alert(&names.alerts, "r1", WAIT, &mut gw);
    // More of the same in a later batch: an update under the same id, not a new alert.
    produce_lines(&names.actions, &keyed(&[refund("r4", 4), refund("r5", 5)]));
    let records = wait_until(&mut gw, WAIT, "an update with count 5", || {
        let records: Vec<Value> = alerts(&names.alerts)
            .into_iter()
            .filter(|a| a["rule"] == "out_of_purpose_action")
            .collect();
        if records.iter().any(|a| a["count"] == 5) {
            Ok(records)
        } else {
            Err(format!("{records:#?}"))
        }
    });
    gw.stop();
    let ids: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one alert: {records:#?}");
    assert_eq!(records.len(), 2, "raised once, updated once: {records:#?}");
    let update = &records[1];
    assert_eq!(update["first_seen"], "2026-11-30T09:10:01.000Z");
    assert_eq!(update["last_seen"], "2026-11-30T09:10:05.000Z");

    // Offsets lost (a new group) but the state kept: every event is read and judged
    // again, and nothing is raised again.
    let regrouped = write_config_with(
        dir.path(),
        &Names {
            group: format!("{}-again", names.group),
            ..names.clone()
        },
        &fixture("scenario/grants.yaml"),
        &Extra {
            kafka: &kafka_extra,
            alerts: "update_interval = \"1s\"",
            ..Extra::default()
        },
    );
    // Event alerts only: whether the first instance got to its first scheduled round
    // (idle and expiry findings) before it stopped depends on the machine's load.
    let before = event_alerts(&names.alerts).len();
    let mut again = Grantwatch::start(&regrouped);
    wait_for_metrics(&mut again, Duration::from_secs(60), "re-read", |m| {
        try_sample(m, "grantwatch_events_total{result=\"decoded\"}") == Some(5.0)
    });
    std::thread::sleep(Duration::from_secs(3));
    again.stop();
    let after = event_alerts(&names.alerts);
    assert_eq!(
        after.len(),
        before,
        "no alert storm: {:#?}",
        &after[before.min(after.len())..]
    );
}

/// A sink that keeps failing holds everything back: retried with backoff, counted,
/// no offset committed, memory flat; when it comes back, every alert arrives.
fn sink_outage(
    test: &str,
    sink: &str,
    setup: impl FnOnce(&std::path::Path, &Names) -> String,
    recover: impl FnOnce(),
) {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new(test);
    let alerts_extra = setup(dir.path(), &names);
    let mut gw = scenario_instance(dir.path(), &names, &alerts_extra);
    let failing = format!("grantwatch_sink_errors_total{{sink=\"{sink}\"}}");
    wait_for_metrics(&mut gw, WAIT, "three failed deliveries", |m| {
        try_sample(m, &failing).is_some_and(|n| n >= 3.0)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        committed_offset(&names.group, &names.actions),
        None,
        "nothing committed past undelivered alerts"
    );
    let addr = gw.metrics_addr();
    assert_eq!(
        http_get(&addr, "/readyz", None).0,
        503,
        "blocked: not ready"
    );
    let peak_kib = gw.peak_rss_kib();
    eprintln!("{sink} down: peak RSS {peak_kib} KiB while retrying");
    assert!(peak_kib < 512 * 1024, "peak RSS {peak_kib} KiB");

    recover();
    let file = dir.path().join("alerts.jsonl");
    wait_for_file_alert(&mut gw, &file, "sentinel");
    wait_until(&mut gw, WAIT, "ready again", || {
        match http_get(&addr, "/readyz", None).0 {
            200 => Ok(()),
            status => Err(format!("/readyz {status}")),
        }
    });
    gw.stop();
    let count = scenario_with_sentinel().len() as i64;
    assert_eq!(
        committed_offset(&names.group, &names.actions),
        Some(count),
        "committed once delivered"
    );
    let delivered: std::collections::BTreeSet<String> = alerts(&names.alerts)
        .iter()
        .filter(|a| is_event_alert(a))
        .map(|a| a["alert_id"].as_str().unwrap().to_owned())
        .collect();
    let written: std::collections::BTreeSet<String> = read_jsonl(&file)
        .iter()
        .filter(|a| is_event_alert(a))
        .map(|a| a["alert_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered, written, "every sink got every alert");
}

#[test]
fn an_unreachable_alertmanager_holds_offsets_until_it_returns() {
    let port_dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let am: std::cell::RefCell<Option<Alertmanager>> = std::cell::RefCell::new(None);
    sink_outage(
        "am-down",
        "alertmanager",
        |_, _| format!("alertmanager_url = \"http://{addr}\""),
        || *am.borrow_mut() = Some(Alertmanager::start_at(port_dir.path(), addr.clone())),
    );
    let posted = am.borrow().as_ref().unwrap().alerts();
    assert!(
        posted
            .iter()
            .any(|a| a["labels"]["credential"] == "cli_sentinel"),
        "{posted:#?}"
    );
}

#[test]
fn an_alert_topic_refusing_writes_holds_offsets_until_it_accepts() {
    let topic: std::cell::RefCell<String> = std::cell::RefCell::new(String::new());
    sink_outage(
        "topic-down",
        "kafka",
        |_, names| {
            // Every alert is larger than the topic accepts, until the limit is raised.
            create_topic_with(&names.alerts, &[("max.message.bytes", "100")]);
            *topic.borrow_mut() = names.alerts.clone();
            String::new()
        },
        || alter_topic(&topic.borrow(), &[("max.message.bytes", "1048588")]),
    );
}

/// A sink down for three times `max.poll.interval.ms` while batches wait behind it:
/// the reading task keeps polling with its partitions paused, so the group keeps the
/// member (one assignment, no rebalance), nothing is committed past the undelivered
/// alerts, and when the sink is back every alert arrives.
#[test]
fn a_sink_outage_longer_than_the_poll_interval_keeps_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("long-outage");
    let addr = format!("127.0.0.1:{}", free_port());
    let alerts_extra = format!("alertmanager_url = \"http://{addr}\"");
    let config = write_config_with(
        dir.path(),
        &names,
        &fixture("scenario/grants.yaml"),
        &Extra {
            kafka: "[kafka.librdkafka]\n\"max.poll.interval.ms\" = 20000\n\"session.timeout.ms\" = 10000\n",
            alerts: &alerts_extra,
            ..Extra::default()
        },
    );
    // Enough compliant traffic behind the scenario for batches (500 events each) to
    // queue up behind the one the loop is retrying.
    let mut events = scenario_with_sentinel();
    let sentinel = events.pop().unwrap();
    let filler = events[0].clone();
    for i in 0..3_000 {
        let mut e = filler.clone();
        e["event_id"] = json!(format!("ok-filler-{i}"));
        events.push(e);
    }
    events.push(sentinel);
    produce_lines(&names.actions, &keyed(&events));
    let mut gw = Grantwatch::start(&config);
    wait_for_metrics(&mut gw, WAIT, "a failed delivery", |m| {
        try_sample(m, "grantwatch_sink_errors_total{sink=\"alertmanager\"}")
            .is_some_and(|n| n >= 1.0)
    });
    std::thread::sleep(Duration::from_secs(60));
    assert_eq!(
        committed_offset(&names.group, &names.actions),
        None,
        "nothing committed past undelivered alerts"
    );
    let port_dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start_at(port_dir.path(), addr);
    let file = dir.path().join("alerts.jsonl");
    wait_for_file_alert(&mut gw, &file, "sentinel");
    let metrics = http_get(&gw.metrics_addr(), "/metrics", None).1;
    assert_eq!(
        try_sample(&metrics, "grantwatch_kafka_assignments_total"),
        Some(1.0),
        "the group kept the member: no rebalance\n{}",
        gw.log()
    );
    gw.stop();
    assert_eq!(
        committed_offset(&names.group, &names.actions),
        Some(events.len() as i64),
        "committed once delivered"
    );
    let ids = |alerts: &[Value]| -> std::collections::BTreeSet<String> {
        alerts
            .iter()
            .filter(|a| is_event_alert(a))
            .map(|a| a["alert_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&alerts(&names.alerts)),
        ids(&read_jsonl(&file)),
        "every sink got every alert"
    );
    assert!(
        am.alerts()
            .iter()
            .any(|a| a["labels"]["credential"] == "cli_sentinel"),
        "Alertmanager got the last alert"
    );
}

/// The partitions `gw` was last assigned, from its log.
fn last_assignment(gw: &Grantwatch) -> Option<String> {
    gw.log()
        .lines()
        .rev()
        .find(|l| l.contains("Partitions assigned"))
        .and_then(|l| l.split("partitions=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
}

#[test]
fn one_misuse_seen_by_two_instances_is_one_alert_with_the_whole_count() {
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(dir.path());
    let names = Names::new("oneCount");
    create_topic(&names.actions, 4);
    // One grant whose four credentials land on the four partitions.
    let mut credentials = [None, None, None, None];
    for i in 0.. {
        let credential = format!("cli_split_{i}");
        let p = grantwatch::kafka::ownership::partition_for(&credential, 4) as usize;
        credentials[p].get_or_insert(credential);
        if credentials.iter().all(Option::is_some) {
            break;
        }
    }
    let credentials: Vec<String> = credentials.into_iter().flatten().collect();
    let grants = dir.path().join("grants.yaml");
    std::fs::write(
        &grants,
        format!(
            "- id: split-read\n  partner: p-split\n  owner: ops@bank.example\n  approved_by: board\n  \
             purpose: Read accounts\n  credentials: [{}]\n  valid_from: 2026-01-01T00:00:00Z\n  \
             expires_at: 2099-01-01T00:00:00Z\n  scopes:\n    - action: \"GET /v1/accounts/*\"\n",
            credentials.join(", ")
        ),
    )
    .unwrap();
    let alerts_extra = format!(
        "alertmanager_url = \"http://{}\"\nupdate_interval = \"1s\"",
        am.addr
    );
    let extra = Extra {
        alerts: &alerts_extra,
        ..Extra::default()
    };
    let mut instances = start_instances(dir.path(), &names, &grants, &extra, 2);
    // Events go out once the group has settled on two partitions each, so that both
    // instances see part of the misuse.
    let deadline = Instant::now() + WAIT;
    loop {
        let seen: Vec<Option<String>> = instances.iter().map(last_assignment).collect();
        if seen.iter().all(|s| s.as_deref() == Some("2")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "assignments {seen:?}:\n{}\n{}",
            instances[0].log(),
            instances[1].log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // 150 deletes from each credential, a second apart: one misuse of one route.
    let start = chrono::Utc::now() - chrono::Duration::minutes(10);
    let mut events = Vec::new();
    for i in 0..150 {
        for (c, credential) in credentials.iter().enumerate() {
            let ts =
                start + chrono::Duration::seconds(i) + chrono::Duration::milliseconds(c as i64);
            events.push(json!({
                "ts": ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "event_id": format!("{credential}-{i}"),
                "credential_id": credential,
                "action": format!("DELETE /v1/accounts/acc_{i}"),
            }));
        }
    }
    produce_lines(&names.actions, &keyed(&events));

    let misuse = |alert: &Value| alert["rule"] == "out_of_purpose_action";
    let last = wait_until(&mut instances[0], WAIT, "one alert counting 600", || {
        let seen: Vec<Value> = alerts(&names.alerts).into_iter().filter(misuse).collect();
        match seen.last() {
            Some(last) if last["count"] == 600 => Ok(seen),
            _ => Err(format!(
                "{:#?}",
                seen.iter()
                    .map(|a| (&a["alert_id"], &a["count"]))
                    .collect::<Vec<_>>()
            )),
        }
    });
    let ids: std::collections::BTreeSet<&str> =
        last.iter().filter_map(|a| a["alert_id"].as_str()).collect();
    assert_eq!(ids.len(), 1, "one alert id on the topic: {ids:?}");
    let id = *ids.first().unwrap();
    let posted: Vec<Value> = am
        .alerts()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "out_of_purpose_action")
        .collect();
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert_eq!(posted[0]["annotations"]["alert_id"], id);
    assert_eq!(posted[0]["annotations"]["count"], "600");
    // Both judged part of it: the one that does not report the group relayed.
    let relayed: Vec<f64> = instances
        .iter_mut()
        .map(|gw| {
            let (_, text) = http_get(&gw.metrics_addr(), "/metrics", None);
            sample(&text, "grantwatch_alerts_relayed_total")
        })
        .collect();
    assert!(
        relayed.iter().filter(|&&n| n > 0.0).count() == 1,
        "exactly one instance relayed: {relayed:?}"
    );
    for gw in instances {
        gw.stop();
    }
}
