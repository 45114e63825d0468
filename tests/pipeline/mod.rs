//! The pipeline end to end: exact alerts for a scenario covering every rule,
//! dead-lettering, stop/restart and kill -9 without loss, a broker outage ridden out
//! without a restart, and inputs refused at start.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// (rule, grant_id or "", credential_id, event_ids joined by ",").
type AlertKey = (String, String, String, String);

fn key(alert: &Value) -> AlertKey {
    let ids: Vec<&str> = alert["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    (
        alert["rule"].as_str().unwrap().to_owned(),
        alert["grant_id"].as_str().unwrap_or("").to_owned(),
        alert["credential_id"].as_str().unwrap().to_owned(),
        ids.join(","),
    )
}

fn expected() -> BTreeSet<AlertKey> {
    let text = std::fs::read_to_string(fixture("scenario/expected_alerts.tsv")).unwrap();
    let mut set: BTreeSet<AlertKey> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect();
    set.insert((
        "unknown_credential".into(),
        String::new(),
        "cli_sentinel".into(),
        "sentinel".into(),
    ));
    set
}

fn scenario_events() -> Vec<Value> {
    read_jsonl(&fixture("scenario/events.jsonl"))
}

/// The last event: its alert proves every earlier event of the partition was judged.
fn sentinel() -> Value {
    json!({"ts": "2026-11-30T10:00:00Z", "event_id": "sentinel", "credential_id": "cli_sentinel", "action": "GET /ping"})
}

const WAIT: Duration = Duration::from_secs(90);

#[test]
fn scenario_raises_exactly_the_expected_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("scenario");
    let config = write_config(dir.path(), &names, &fixture("scenario/grants.yaml"), "");
    let mut events = scenario_events();
    events.push(sentinel());
    produce_lines(&names.actions, &keyed(&events));

    let mut gw = Grantwatch::start(&config);
    wait_for_event_alert(&names.alerts, "sentinel", WAIT, &mut gw);
    gw.stop();

    let records: Vec<Record> = read_all(&names.alerts)
        .into_iter()
        .filter(|r| is_event_alert(&r.json()))
        .collect();
    let alerts: Vec<Value> = records.iter().map(Record::json).collect();
    let got: BTreeSet<AlertKey> = alerts.iter().map(key).collect();
    assert_eq!(got, expected(), "alert set differs");
    assert_eq!(alerts.len(), got.len(), "no alert is raised twice");

    for (record, alert) in records.iter().zip(&alerts) {
        let id = alert["alert_id"].as_str().unwrap();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "alert_id is sha256 hex: {id}"
        );
        let owner = alert["owner"].as_str().unwrap_or("unowned");
        assert_eq!(
            record.key.as_deref(),
            Some(owner.as_bytes()),
            "alert topic is keyed by owner"
        );
        if let Some(grant) = alert["grant_id"].as_str() {
            assert!(
                alert["purpose"].is_string() && alert["partner"].is_string(),
                "{grant} alert names purpose and partner"
            );
        }
        assert!(!alert["frameworks"].as_array().unwrap().is_empty());
    }
    let oop = alerts
        .iter()
        .find(|a| a["rule"] == "out_of_purpose_action")
        .unwrap();
    assert_eq!(
        oop["reason"],
        "POST /v1/refunds is not in purpose 'Initiate payroll payouts for SME customers'"
    );
    assert_eq!(oop["owner"], "jane.doe@bank.example");
    assert_eq!(oop["severity"], "high");
    assert_eq!(oop["first_seen"], oop["last_seen"]);

    // Compliant events raise nothing of medium severity or above.
    let serious: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["severity"] != "info" && a["severity"] != "low")
        .filter(|a| {
            a["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.as_str().unwrap().starts_with("ok-"))
        })
        .collect();
    assert!(serious.is_empty(), "compliant events raised {serious:?}");

    // The file sink holds the same alerts.
    let from_file: BTreeSet<AlertKey> = read_jsonl(&dir.path().join("alerts.jsonl"))
        .iter()
        .map(key)
        .collect();
    assert_eq!(from_file, got);
}

/// Good events with malformed ones mixed in.
/// The poison corpus: each message with the reason it must be dead-lettered for.
/// Sized for `max_message_bytes = 32768`.
fn poison() -> Vec<(Vec<u8>, &'static str)> {
    let ok = r#""ts":1,"credential_id":"c","action":"a""#;
    let with = |extra: &str| format!("{{{ok},{extra}}}").into_bytes();
    let big = with(&format!(r#""pad":"{}""#, "x".repeat(40_000)));
    let nested = |field: &str| {
        with(&format!(
            r#""{field}":{}{}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        ))
    };
    let deep_object = with(&format!(
        r#""attributes":{}1{}"#,
        r#"{"a":"#.repeat(100),
        "}".repeat(100)
    ));
    vec![
        (b"{not json".to_vec(), "invalid_json"),
        (format!("{{{ok}}} trailing").into_bytes(), "invalid_json"),
        (
            br#"{"ts":1,"credential_id":"c","act"#.to_vec(),
            "invalid_json",
        ),
        (with(r#""amount":NaN"#), "invalid_json"),
        (
            br#"{"ts":1,"credential_id":"\ud800","action":"a"}"#.to_vec(),
            "invalid_json",
        ),
        (
            b"{\"ts\":1,\"credential_id\":\"c\",\"action\":\"a\"".to_vec(),
            "invalid_json",
        ),
        (b"[1,2,3]".to_vec(), "not_an_object"),
        (b"\"a string\"".to_vec(), "not_an_object"),
        (b"null".to_vec(), "not_an_object"),
        (b"42".to_vec(), "not_an_object"),
        (br#"{"ts":1,"action":"GET /x"}"#.to_vec(), "missing_field"),
        (
            br#"{"credential_id":"c","action":"a"}"#.to_vec(),
            "missing_field",
        ),
        (br#"{"ts":1,"credential_id":"c"}"#.to_vec(), "missing_field"),
        (
            br#"{"ts":1,"credential_id":null,"action":"a"}"#.to_vec(),
            "missing_field",
        ),
        (with(r#""amount":"12""#), "wrong_type"),
        (with(r#""amount":"NaN""#), "wrong_type"),
        (with(r#""amount":1e999"#), "invalid_json"),
        (
            br#"{"ts":true,"credential_id":"c","action":"a"}"#.to_vec(),
            "wrong_type",
        ),
        (
            br#"{"ts":1,"credential_id":5,"action":"a"}"#.to_vec(),
            "wrong_type",
        ),
        (with(r#""data_classes":"pii""#), "wrong_type"),
        (with(r#""attributes":[1]"#), "wrong_type"),
        (
            br#"{"ts":"2026-02-30T00:00:00Z","credential_id":"c","action":"a"}"#.to_vec(),
            "invalid_value",
        ),
        (
            br#"{"ts":"2026-13-01T00:00:00Z","credential_id":"c","action":"a"}"#.to_vec(),
            "invalid_value",
        ),
        (
            br#"{"ts":"yesterday","credential_id":"c","action":"a"}"#.to_vec(),
            "invalid_value",
        ),
        (
            br#"{"ts":99999999999999999,"credential_id":"c","action":"a"}"#.to_vec(),
            "invalid_value",
        ),
        (with(r#""outcome":"maybe""#), "invalid_value"),
        (
            b"{\"ts\":1,\"credential_id\":\"\xff\",\"action\":\"a\"}".to_vec(),
            "not_utf8",
        ),
        (big, "too_large"),
        (nested("x"), "too_deep"),
        (nested("attributes"), "too_deep"),
        (deep_object, "too_deep"),
    ]
}

/// Unusual messages that are valid (README, "Bad input"): each is judged, and its
/// unknown credential raises an alert naming it. (event id, credential judged).
fn unusual() -> Vec<(Vec<u8>, &'static str, &'static str)> {
    let large = json!({"ts": "2026-11-30T09:00:00Z", "event_id": "unusual-large",
        "credential_id": "cli_unusual_large", "action": "GET /x",
        "attributes": {"blob": "y".repeat(30_000)}});
    vec![
        (
            br#"{"ts":"2026-11-30T09:00:00Z","event_id":"unusual-dup","credential_id":"cli_dup_first","credential_id":"cli_dup_last","action":"GET /x"}"#.to_vec(),
            "unusual-dup",
            "cli_dup_last",
        ),
        (
            br#"{"ts":"9999-12-31T23:59:59Z","event_id":"unusual-future","credential_id":"cli_future","action":"GET /x"}"#.to_vec(),
            "unusual-future",
            "cli_future",
        ),
        (
            br#"{"ts":"1970-01-01T00:00:00Z","event_id":"unusual-past","credential_id":"cli_past","action":"GET /x"}"#.to_vec(),
            "unusual-past",
            "cli_past",
        ),
        (large.to_string().into_bytes(), "unusual-large", "cli_unusual_large"),
    ]
}

#[test]
fn bad_messages_are_dead_lettered_unchanged_and_good_ones_processed() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("dlq");
    // A small message limit makes the oversized poison reachable without megabytes.
    let config = write_config(
        dir.path(),
        &names,
        &fixture("scenario/grants.yaml"),
        "max_message_bytes = 32768\n",
    );
    let good = scenario_events();
    let poison = poison();
    assert!(poison.len() >= 25);
    let unusual = unusual();
    // Bad, unusual and good messages interleaved; all without a key (kcat sends
    // files unkeyed), which is one of the unusual cases.
    let mut payloads = Vec::new();
    let mut bad = poison.iter().map(|(p, _)| p.clone());
    let mut odd = unusual.iter().map(|(p, _, _)| p.clone());
    for event in &good {
        payloads.push(event.to_string().into_bytes());
        payloads.extend(bad.next());
        payloads.extend(bad.next());
        payloads.extend(odd.next());
    }
    payloads.extend(bad);
    payloads.extend(odd);
    produce_raw(&names.actions, dir.path(), &payloads);
    // An empty value and no value at all, then the sentinel last.
    produce_empty(&names.actions, Some(b""));
    produce_empty(&names.actions, None);
    let mut poison = poison;
    poison.push((Vec::new(), "empty"));
    poison.push((Vec::new(), "empty"));
    produce_raw(
        &names.actions,
        dir.path(),
        &[sentinel().to_string().into_bytes()],
    );

    let mut gw = Grantwatch::start(&config);
    wait_for_event_alert(&names.alerts, "sentinel", WAIT, &mut gw);
    let peak_kib = gw.peak_rss_kib();
    gw.stop();

    let mut want = expected();
    for (_, event_id, credential) in &unusual {
        want.insert((
            "unknown_credential".into(),
            String::new(),
            (*credential).into(),
            (*event_id).into(),
        ));
    }
    let got: BTreeSet<AlertKey> = event_alerts(&names.alerts).iter().map(key).collect();
    assert_eq!(got, want, "every good and unusual event was judged");
    // Bounded: the stream holds 33 bad messages up to 40 kB each.
    eprintln!("peak RSS after the poison corpus: {peak_kib} KiB");
    assert!(peak_kib < 512 * 1024, "peak RSS {peak_kib} KiB");
    let dead = read_all(&names.dlq);
    for (i, (payload, reason)) in poison.iter().enumerate() {
        // Dead letters are sent concurrently, so their order on the topic is not fixed.
        let record = dead.iter().find(|r| &r.payload == payload);
        let record = record
            .unwrap_or_else(|| panic!("poison message {i} ({reason}) not dead-lettered unchanged"));
        let error = record.header("grantwatch.error").expect("reason header");
        assert!(
            error.starts_with(reason),
            "{error} should start with {reason}"
        );
        let source = record.header("grantwatch.source").expect("source header");
        assert!(
            source.starts_with(&format!("{}/0/", names.actions)),
            "{source}"
        );
    }
    assert_eq!(
        dead.len(),
        poison.len(),
        "each bad message dead-lettered once"
    );
    let missing = dead
        .iter()
        .find(|r| r.payload == br#"{"ts":1,"action":"GET /x"}"#)
        .unwrap();
    let reason = missing.header("grantwatch.error").unwrap();
    assert!(
        reason.contains("credential_id"),
        "names the field: {reason}"
    );
}

#[test]
fn a_restart_mid_stream_resumes_without_losing_alerts() {
    restart_mid_stream("restart", |gw| {
        let log = gw.stop();
        assert!(
            log.contains("Committed offsets"),
            "graceful stop commits:\n{log}"
        );
    });
}

/// A TERM while starting (brokers, state) ends in a clean exit, not in the signal's
/// default kill: the handlers are installed before anything else.
#[test]
fn a_stop_during_start_up_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("early-stop");
    let config = write_config(dir.path(), &names, &fixture("scenario/grants.yaml"), "");
    let gw = Grantwatch::start(&config);
    // Serving metrics: start-up is under way, the consumer not yet started.
    gw.metrics_addr();
    gw.stop();
}

/// kill -9: nothing drains, nothing commits, the dedup state may be behind; the
/// restart redelivers from the last commit and every alert still arrives, repeats
/// only as the same alert id.
#[test]
fn a_kill_9_mid_stream_loses_nothing() {
    restart_mid_stream("kill9", Grantwatch::kill);
}

/// The scenario's violations spread through a backlog; `interrupt` ends the first
/// instance once it has raised some alerts, a second one finishes the stream.
fn restart_mid_stream(test: &str, interrupt: impl FnOnce(Grantwatch)) {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new(test);
    let config = write_config(dir.path(), &names, &fixture("scenario/grants.yaml"), "");
    // A backlog of compliant traffic with the scenario's violations spread through it,
    // so the stop lands while batches are in flight.
    let scenario = scenario_events();
    let filler = &scenario[0];
    let mut events = Vec::new();
    // Long enough that the first alert comes well before the end (6,000 events were
    // sometimes all judged before the test saw that alert).
    let (backlog, spacing) = (20_000, 20_000 / scenario.len());
    for i in 0..backlog {
        if let Some(e) = scenario.get(i / spacing).filter(|_| i % spacing == 0) {
            events.push(e.clone());
        }
        let mut e = filler.clone();
        e["event_id"] = json!(format!("ok-filler-{i}"));
        events.push(e);
    }
    events.push(sentinel());
    produce_lines(&names.actions, &keyed(&events));

    let mut first = Grantwatch::start(&config);
    let deadline = std::time::Instant::now() + WAIT;
    while event_alerts(&names.alerts).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no progress:\n{}",
            first.log()
        );
        assert!(
            first.child.try_wait().unwrap().is_none(),
            "exited:\n{}",
            first.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    interrupt(first);
    let before = event_alerts(&names.alerts).len();

    // The same member again (static membership): it takes its partitions back at
    // once, not after the dead member's session times out (45 s).
    let restarted = std::time::Instant::now();
    let mut second = Grantwatch::start(&config);
    let addr = second.metrics_addr();
    wait_until(
        &mut second,
        WAIT,
        "ready after the restart",
        || match http_get(&addr, "/readyz", None).0 {
            200 => Ok(()),
            status => Err(format!("/readyz {status}")),
        },
    );
    let resumed = restarted.elapsed();
    eprintln!("{test}: consuming again {resumed:.1?} after the restart");
    assert!(
        resumed < Duration::from_secs(20),
        "resumed after {resumed:?}"
    );
    wait_for_event_alert(&names.alerts, "sentinel", WAIT, &mut second);
    second.stop();

    let all = event_alerts(&names.alerts);
    let got: BTreeSet<AlertKey> = all.iter().map(key).collect();
    assert_eq!(got, expected(), "nothing lost across the restart");
    // Redelivery may repeat an alert, but only as the same alert_id with the same content.
    let mut by_id: BTreeMap<&str, &Value> = BTreeMap::new();
    for alert in &all {
        let id = alert["alert_id"].as_str().unwrap();
        if let Some(previous) = by_id.insert(id, alert) {
            assert_eq!(key(previous), key(alert), "same id, same alert");
        }
    }
    assert_eq!(
        by_id.len(),
        expected().len(),
        "one alert id per expected alert"
    );
    assert!(
        before < all.len(),
        "the first run stopped before the end of the stream"
    );
}

/// The broker stopped for 30 s mid-stream: grantwatch stays up, reports not ready
/// meanwhile, resumes by itself when the broker is back, and loses nothing.
#[test]
fn a_broker_outage_is_ridden_out_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateBroker::start(&dir.path().join("kafka"));
    let names = Names::new("outage");
    let config = write_config(dir.path(), &names, &fixture("scenario/grants.yaml"), "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&brokers(), &broker.addr);
    std::fs::write(&config, text).unwrap();
    let alerts_file = dir.path().join("alerts.jsonl");
    let mut before = json!({"ts": "2026-11-30T09:30:00Z", "event_id": "before-outage",
        "credential_id": "cli_before_outage", "action": "GET /ping"});
    let scenario = scenario_events();
    let (first_half, second_half) = scenario.split_at(scenario.len() / 2);
    let mut events = first_half.to_vec();
    events.push(before.take());
    produce_lines_at(&broker.addr, &names.actions, &keyed(&events));

    let mut gw = Grantwatch::start(&config);
    let addr = gw.metrics_addr();
    let ready = |want: u16| {
        let addr = addr.clone();
        move || match http_get(&addr, "/readyz", None).0 {
            status if status == want => Ok(()),
            status => Err(format!("/readyz {status}")),
        }
    };
    wait_for_file_alert(&mut gw, &alerts_file, "before-outage");
    wait_until(&mut gw, WAIT, "ready", ready(200));

    let outage = std::time::Instant::now();
    broker.stop();
    // Not ready: from the broker statistics when the consumer is idle, or because
    // the state or an alert sink cannot be written when the outage meets a delivery.
    wait_until(
        &mut gw,
        WAIT,
        "not ready while the broker is down",
        ready(503),
    );
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed()));
    assert!(gw.child.try_wait().unwrap().is_none(), "{}", gw.log());
    broker.restart();
    let returned = std::time::Instant::now();
    wait_until(&mut gw, WAIT, "ready again", ready(200));
    let resumed = returned.elapsed();
    eprintln!("outage: ready again {resumed:.1?} after the broker returned");
    assert!(resumed < Duration::from_secs(10), "ready after {resumed:?}");
    let brokers_up = sample(
        &http_get(&addr, "/metrics", None).1,
        "grantwatch_kafka_brokers_up",
    );
    assert_eq!(brokers_up, 1.0);

    let mut events = second_half.to_vec();
    events.push(sentinel());
    produce_lines_at(&broker.addr, &names.actions, &keyed(&events));
    wait_for_file_alert(&mut gw, &alerts_file, "sentinel");
    let log = gw.stop();
    assert!(log.contains("Lost every Kafka broker"), "{log}");

    let mut want = expected();
    want.insert((
        "unknown_credential".into(),
        String::new(),
        "cli_before_outage".into(),
        "before-outage".into(),
    ));
    let got: BTreeSet<AlertKey> = file_event_alerts(&alerts_file).iter().map(key).collect();
    assert_eq!(got, want, "nothing lost across the outage");
}

/// Two instances of one group on one host with the same (default) instance id: the
/// broker fences the first, which stops and says which setting to change, instead of
/// retrying for ever.
#[test]
fn an_instance_fenced_by_its_twin_stops_naming_instance_id() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("fenced");
    let config = write_config(dir.path(), &names, &fixture("scenario/grants.yaml"), "");
    produce_lines(&names.actions, &keyed(&[sentinel()]));
    let mut first = Grantwatch::start_as(&config, "twin");
    wait_for_event_alert(&names.alerts, "sentinel", WAIT, &mut first);
    let second = Grantwatch::start_as(&config, "twin");
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the fenced instance kept running:\n{}",
            first.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "{}", first.log());
    let log = first.log();
    assert!(log.contains("instance_id"), "{log}");
    second.stop();
}

#[test]
fn an_invalid_grants_file_is_refused_at_start_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("badgrants");
    let grants = dir.path().join("grants.yaml");
    let text = std::fs::read_to_string(fixture("scenario/grants.yaml")).unwrap();
    std::fs::write(
        &grants,
        text.replace(
            "expires_at: 2027-06-01T00:00:00Z\n  environments: [prod]",
            "expires_at: soon\n  environments: [prod]",
        ),
    )
    .unwrap();
    let config = write_config(dir.path(), &names, &grants, "");
    let (code, stderr) = run_to_exit(&["run", "--config", config.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{stderr}");
    let expected = format!(
        "{}:35: grant `ledgerly-reconciliation`: field `expires_at`: `soon` is not",
        grants.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn an_invalid_config_is_refused_with_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[kafka]\nformat = \"xml\"\n[batch]\nlinger = \"soon\"\n",
    )
    .unwrap();
    let (code, stderr) = run_to_exit(&["run", "--config", config.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("kafka.format") && stderr.contains("batch.linger"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    std::fs::write(&config, "[kafka]\nbrokerz = \"x\"\n").unwrap();
    let (code, stderr) = run_to_exit(&["run", "--config", config.to_str().unwrap()], dir.path());
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown field `brokerz`"), "{stderr}");
}

#[test]
fn a_cloudtrail_delivery_file_is_judged_record_by_record() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("cloudtrail");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = write_config(
        dir.path(),
        &names,
        &root.join("examples/invictus/grants.yaml"),
        "format = \"cloudtrail\"\n",
    );
    let raw = root.join("../shared/data/cloudtrail-invictus/raw");
    let mut files: Vec<_> = std::fs::read_dir(&raw)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut file: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let records = file["Records"].as_array_mut().unwrap();
    let good = records.len();
    let mut bad = records[0].clone();
    bad["eventTime"] = json!("redacted");
    bad["eventID"] = json!("bad-record");
    records.insert(1, bad.clone());
    // From another account than the recipient: in partner scope, and unknown.
    let sentinel = json!({"Records": [{"eventID": "sentinel", "eventTime": "2023-07-10T13:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
        "recipientAccountId": "123837392027",
        "userIdentity": {"type": "IAMUser", "accountId": "999999999999",
            "arn": "arn:aws:iam::999999999999:user/sentinel"}}]});
    produce_raw(
        &names.actions,
        dir.path(),
        &[
            file.to_string().into_bytes(),
            sentinel.to_string().into_bytes(),
        ],
    );

    let mut gw = Grantwatch::start(&config);
    wait_for_event_alert(&names.alerts, "sentinel", WAIT, &mut gw);
    gw.stop();

    let dead = read_all(&names.dlq);
    assert_eq!(dead.len(), 1, "only the bad record");
    assert_eq!(dead[0].json(), bad, "dead-lettered alone, as it was");
    let error = dead[0].header("grantwatch.error").unwrap();
    assert!(
        error.starts_with("invalid_value: field `eventTime`"),
        "{error}"
    );
    // The other records of the file were judged: alerts name their event ids.
    let judged: BTreeSet<String> = event_alerts(&names.alerts)
        .iter()
        .flat_map(|a| {
            a["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        judged.len() > 1 && judged.contains("sentinel"),
        "{judged:?}"
    );
    assert!(good > 1);
}
