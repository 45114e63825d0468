//! Grants as code against the real broker and binary: `grants check`, hot reload
//! under traffic (SIGHUP and file change), invalid reloads, the idle finding with
//! short `idle_after`s, activity state across a restart, and two instances of one
//! group reporting each idle grant once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One grant: `id` binds credential `c-ID`, allows `scopes`, idle after `idle_after`.
fn grant(id: &str, valid_from: &str, idle_after: &str, scopes: &[&str]) -> String {
    let scopes: String = scopes
        .iter()
        .map(|s| format!("    - action: \"{s}\"\n"))
        .collect();
    format!(
        "- id: {id}\n  partner: p-{id}\n  owner: {id}@bank.example\n  approved_by: board\n  \
         purpose: Test grant {id}\n  credentials: [c-{id}]\n  valid_from: {valid_from}\n  \
         expires_at: 2099-01-01T00:00:00Z\n  idle_after: {idle_after}\n  scopes:\n{scopes}"
    )
}

fn event(id: &str, credential: &str, action: &str, ts: &str) -> Value {
    json!({"ts": ts, "event_id": id, "credential_id": credential, "action": action})
}

/// The built-in idle_grant rule, run every second instead of every minute: the SQL
/// under test is the shipped one.
fn fast_idle_rule(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let sql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/rules/idle_grant.sql"),
    )
    .unwrap()
    .replace("-- schedule: every 1m", "-- schedule: every 1s");
    assert!(sql.contains("every 1s"));
    std::fs::write(rules.join("idle_grant.sql"), sql).unwrap();
    rules
}

/// Idle alerts per grant on the alert topic.
fn idle_alerts(topic: &str) -> BTreeMap<String, Vec<Value>> {
    let mut by_grant: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for alert in alerts(topic) {
        if alert["rule"] == "idle_grant" {
            by_grant
                .entry(alert["grant_id"].as_str().unwrap().to_owned())
                .or_default()
                .push(alert);
        }
    }
    by_grant
}

fn wait_for_idle(topic: &str, grants: &[&str], gw: &mut Grantwatch) {
    let what = format!("idle alerts for all of {grants:?}");
    wait_until(gw, WAIT, &what, || {
        let idle = idle_alerts(topic);
        if grants.iter().all(|g| idle.contains_key(*g)) {
            Ok(())
        } else {
            Err(format!("{idle:?}"))
        }
    });
}

const SINCE: &str = "2026-01-01T00:00:00Z";

/// An instance judging one grant `g` (credential `c-g`, allowing `GET /a`) from a
/// grants file it reloads every `reload_interval`, after one in-purpose event.
fn one_grant_instance(
    test: &str,
    reload_interval: &str,
) -> (tempfile::TempDir, Names, PathBuf, Grantwatch) {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new(test);
    let grants = dir.path().join("grants.yaml");
    std::fs::write(&grants, grant("g", SINCE, "30d", &["GET /a"])).unwrap();
    let grants_extra = format!("reload_interval = \"{reload_interval}\"");
    let config = write_config_with(
        dir.path(),
        &names,
        &grants,
        &Extra {
            grants: &grants_extra,
            alerts: "update_interval = \"1s\"",
            ..Extra::default()
        },
    );
    // The topic exists before grantwatch subscribes (librdkafka notices topics
    // created later only at its next metadata refresh).
    produce_lines(
        &names.actions,
        &keyed(&[event("before", "c-g", "GET /a", SINCE)]),
    );
    let gw = Grantwatch::start(&config);
    (dir, names, grants, gw)
}

#[test]
fn grants_check_reports_findings_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let (code, _) = run_to_exit(
        &[
            "grants",
            "check",
            "--at",
            "2026-12-01",
            &format!("{root}/examples/grants"),
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "the example grants lint clean");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "- id: wide\n  partner: p\n  purpose: x\n  credentials: [c1]\n  valid_from: 2026-01-01T00:00:00Z\n  \
         expires_at: 2026-06-01T00:00:00Z\n  scopes:\n    - action: \"**\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_grantwatch"))
        .args(["grants", "check", "--format", "json", "--at", "2026-12-01"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks: Vec<(&str, u64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["check"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("missing_owner", 1),
            ("missing_approval", 1),
            ("expired_but_active", 6),
            ("wildcard_scope", 8)
        ]
    );
    assert_eq!(report["errors"], 3);

    let (code, _) = run_to_exit(&["grants", "check", "/nonexistent/grants"], dir.path());
    assert_eq!(code, 2, "unreadable input");
}

#[test]
fn reload_under_traffic_judges_every_event_exactly_once() {
    // Polling off: this reload comes from SIGHUP alone.
    let (_dir, names, grants, mut gw) = one_grant_instance("reload", "0s");
    wait_for_metrics(&mut gw, WAIT, "consuming", |m| {
        try_sample(m, "grantwatch_events_total{result=\"decoded\"}") == Some(1.0)
    });

    // 3,000 out-of-purpose actions produced over ~3 s while the grant is widened to
    // allow them half-way: each must be judged by exactly one of the two grant sets.
    const CHUNKS: usize = 30;
    const PER_CHUNK: usize = 100;
    let topic = names.actions.clone();
    let producer = std::thread::spawn(move || {
        for chunk in 0..CHUNKS {
            let now = rfc3339(Utc::now());
            let events: Vec<Value> = (0..PER_CHUNK)
                .map(|i| event(&format!("e-{chunk}-{i}"), "c-g", "POST /b", &now))
                .collect();
            produce_lines(&topic, &keyed(&events));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&grants, grant("g", SINCE, "30d", &["GET /a", "POST /b"])).unwrap();
    gw.signal("-HUP");
    producer.join().unwrap();

    let total = (CHUNKS * PER_CHUNK) as f64;
    let g = r#"grant="g",partner="p-g""#;
    let in_purpose = format!("grantwatch_actions_total{{{g},verdict=\"in_purpose\"}}");
    let out_of_purpose = format!("grantwatch_actions_total{{{g},verdict=\"out_of_purpose\"}}");
    let text = wait_for_metrics(&mut gw, WAIT, "every event judged", |m| {
        try_sample(m, "grantwatch_events_total{result=\"decoded\"}") == Some(total + 1.0)
    });
    // The warm-up event was in purpose under either set.
    let (judged_in, judged_out) = (
        try_sample(&text, &in_purpose).unwrap_or(0.0) - 1.0,
        try_sample(&text, &out_of_purpose).unwrap_or(0.0),
    );
    assert_eq!(judged_in + judged_out, total, "{text}");
    assert!(
        judged_in > 0.0 && judged_out > 0.0,
        "the reload landed mid-stream: {judged_in} in, {judged_out} out"
    );
    assert_eq!(
        sample(&text, "grantwatch_grants_reload_total{result=\"ok\"}"),
        2.0
    );
    assert!(gw.log().contains("SIGHUP: reloading grants."));
    // The out-of-purpose alerts count exactly the events judged before the reload
    // (repeats of one alert arrive as updates with its cumulative count).
    wait_until(
        &mut gw,
        WAIT,
        "alert counts matching the flagged events",
        || {
            let mut counts: BTreeMap<String, f64> = BTreeMap::new();
            for a in alerts(&names.alerts) {
                if a["rule"] == "out_of_purpose_action" {
                    let count = counts
                        .entry(a["alert_id"].as_str().unwrap().to_owned())
                        .or_default();
                    *count = count.max(a["count"].as_f64().unwrap());
                }
            }
            let flagged: f64 = counts.values().sum();
            if flagged == judged_out {
                Ok(())
            } else {
                Err(format!(
                    "alerts count {flagged}, judged out of purpose {judged_out}"
                ))
            }
        },
    );
    gw.stop();
}

#[test]
fn an_invalid_reload_keeps_the_last_good_set() {
    let (_dir, names, grants, mut gw) = one_grant_instance("badreload", "200ms");
    wait_for_metrics(&mut gw, WAIT, "started", |m| {
        m.contains("grantwatch_grants_loaded 1")
    });
    // A typo in a key: the reload is refused, located, counted.
    std::fs::write(
        &grants,
        grant("g", SINCE, "30d", &["GET /a", "POST /b"]).replace("  idle_after:", "  idle_afterr:"),
    )
    .unwrap();
    wait_for_metrics(&mut gw, WAIT, "reload refused", |m| {
        try_sample(m, "grantwatch_grants_reload_total{result=\"error\"}") == Some(1.0)
    });
    let log = gw.log();
    assert!(
        log.contains("grants.yaml:9: grant `g`: field `idle_afterr`: unknown field"),
        "{log}"
    );
    // The last good set still judges: POST /b is out of purpose, the grant known.
    let now = rfc3339(Utc::now());
    produce_lines(
        &names.actions,
        &keyed(&[event("after-bad-reload", "c-g", "POST /b", &now)]),
    );
    let alerts = wait_for_event_alert(&names.alerts, "after-bad-reload", WAIT, &mut gw);
    let alert = alerts
        .iter()
        .find(|a| a["event_ids"][0] == "after-bad-reload")
        .unwrap();
    assert_eq!(alert["rule"], "out_of_purpose_action");
    assert_eq!(alert["purpose"], "Test grant g");

    // Garbage under traffic: binary junk, a file cut mid-grant, an empty file. Each
    // reload is refused and every event meanwhile is judged by the last good set.
    let traffic = std::thread::spawn({
        let topic = names.actions.clone();
        move || {
            for chunk in 0..10 {
                let events: Vec<Value> = (0..20)
                    .map(|i| event(&format!("junk-{chunk}-{i}"), "c-g", "GET /a", &now))
                    .collect();
                produce_lines(&topic, &keyed(&events));
                std::thread::sleep(Duration::from_millis(150));
            }
        }
    });
    let junk: [&[u8]; 3] = [
        b"\x00\xff\x89PNG\r\n\x1a\n",
        b"- id: g\n  partner: p-g\n  owner: [",
        b"",
    ];
    for (i, junk) in junk.iter().enumerate() {
        std::fs::write(&grants, junk).unwrap();
        wait_for_metrics(&mut gw, WAIT, "garbage refused", |m| {
            try_sample(m, "grantwatch_grants_reload_total{result=\"error\"}")
                == Some(2.0 + i as f64)
        });
    }
    traffic.join().unwrap();
    let in_purpose = "grantwatch_actions_total{grant=\"g\",partner=\"p-g\",verdict=\"in_purpose\"}";
    wait_for_metrics(&mut gw, WAIT, "the traffic judged by the good set", |m| {
        // 200 under the garbage, plus the warm-up event.
        try_sample(m, in_purpose) == Some(201.0)
    });
    assert!(gw.log().contains("no grant at all"), "{}", gw.log());

    // Fixed: the new set comes into force.
    std::fs::write(&grants, grant("g", SINCE, "30d", &["GET /a", "POST /b"])).unwrap();
    wait_for_metrics(&mut gw, WAIT, "reload accepted", |m| {
        try_sample(m, "grantwatch_grants_reload_total{result=\"ok\"}") == Some(2.0)
    });
    gw.stop();
}

#[test]
fn idle_grants_fire_once_and_a_restart_keeps_last_seen_and_findings() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("idle");
    let rules = fast_idle_rule(dir.path());
    let grants_file = dir.path().join("grants.yaml");
    let hour_ago = rfc3339(Utc::now() - chrono::Duration::hours(1));
    let used_at = rfc3339(Utc::now() - chrono::Duration::minutes(30));
    // dormant: never used, idle after 2 s. lapsed: last used 30 min ago, idle after
    // 10 min. fresh: used now, idle after 3 s. steady: used now, idle after 1 h.
    let text = [
        grant("dormant", &hour_ago, "2s", &["GET /a"]),
        grant("lapsed", &hour_ago, "10m", &["GET /a"]),
        grant("fresh", &hour_ago, "3s", &["GET /a"]),
        grant("steady", &hour_ago, "1h", &["GET /a"]),
    ]
    .concat();
    std::fs::write(&grants_file, text).unwrap();
    let tail = format!("[rules]\ndirs = [\"{}\"]\n", rules.display());
    let config = write_config_with(
        dir.path(),
        &names,
        &grants_file,
        &Extra {
            tail: &tail,
            ..Extra::default()
        },
    );
    let now = rfc3339(Utc::now());
    produce_lines(
        &names.actions,
        &keyed(&[
            event("lapsed-use", "c-lapsed", "GET /a", &used_at),
            event("fresh-use", "c-fresh", "GET /a", &now),
            event("steady-use", "c-steady", "GET /a", &now),
        ]),
    );

    let mut first = Grantwatch::start(&config);
    wait_for_idle(&names.alerts, &["dormant", "lapsed", "fresh"], &mut first);
    // Several more rounds: nothing fires twice.
    std::thread::sleep(Duration::from_secs(3));
    let idle = idle_alerts(&names.alerts);
    assert_eq!(
        idle.keys().map(String::as_str).collect::<Vec<_>>(),
        ["dormant", "fresh", "lapsed"],
        "steady is in use"
    );
    assert!(idle.values().all(|a| a.len() == 1), "{idle:#?}");
    let reason = |g: &str| idle[g][0]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason("dormant").starts_with("never used since"),
        "{}",
        reason("dormant")
    );
    // Idle time counts from the last use, not from valid_from.
    let used_at_secs = &used_at[..19];
    assert!(
        reason("lapsed").contains(used_at_secs),
        "{}",
        reason("lapsed")
    );
    assert!(reason("fresh").starts_with("no action since"));
    assert_eq!(idle["dormant"][0]["owner"], "dormant@bank.example");
    first.stop();

    // A restart restores last_seen from the state topic before consuming anything,
    // and the findings in force: no idle alert fires again.
    let mut second = Grantwatch::start(&config);
    let lapsed_seen = (Utc::now() - chrono::Duration::minutes(30)).timestamp();
    let text = wait_for_metrics(&mut second, WAIT, "last_seen restored", |m| {
        m.contains("grantwatch_grant_last_seen_timestamp_seconds{grant=\"lapsed\"}")
    });
    let restored = sample(
        &text,
        "grantwatch_grant_last_seen_timestamp_seconds{grant=\"lapsed\"}",
    );
    assert!(
        (restored - lapsed_seen as f64).abs() < 120.0,
        "restored {restored}, used at {used_at}"
    );
    std::thread::sleep(Duration::from_secs(4));
    let idle = idle_alerts(&names.alerts);
    assert!(idle.values().all(|a| a.len() == 1), "{idle:#?}");
    assert!(
        second.log().contains("Grant state restored"),
        "{}",
        second.log()
    );
    second.stop();
}

#[test]
fn two_instances_of_one_group_report_each_idle_grant_once() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("scaleout");
    create_topic(&names.actions, 4);
    let rules = fast_idle_rule(dir.path());
    // Eight grants, two whose credentials hash to each partition; all go idle 12 s
    // from now, once both instances share the partitions.
    let mut ids = Vec::new();
    let mut per_partition = [0; 4];
    for i in 0.. {
        let id = format!("g{i}");
        let p = grantwatch::kafka::ownership::partition_for(&format!("c-{id}"), 4) as usize;
        if per_partition[p] < 2 {
            per_partition[p] += 1;
            ids.push(id);
        }
        if ids.len() == 8 {
            break;
        }
    }
    let valid_from = rfc3339(Utc::now() - chrono::Duration::seconds(48));
    let text: String = ids
        .iter()
        .map(|id| grant(id, &valid_from, "60s", &["GET /a"]))
        .collect();
    let grants_file = dir.path().join("grants.yaml");
    std::fs::write(&grants_file, text).unwrap();
    let tail = format!("[rules]\ndirs = [\"{}\"]\n", rules.display());
    let extra = Extra {
        tail: &tail,
        ..Extra::default()
    };
    let mut instances = start_instances(dir.path(), &names, &grants_file, &extra, 2);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_for_idle(&names.alerts, &ids, &mut instances[0]);
    std::thread::sleep(Duration::from_secs(3));
    let idle = idle_alerts(&names.alerts);
    assert_eq!(idle.len(), 8);
    assert!(idle.values().all(|a| a.len() == 1), "{idle:#?}");
    // Each instance wrote its own alert file: both took part.
    let reported: Vec<usize> = (0..2)
        .map(|n| {
            let file = dir.path().join(format!("instance-{n}/alerts.jsonl"));
            std::fs::read_to_string(file).map_or(0, |t| t.lines().count())
        })
        .collect();
    assert_eq!(reported.iter().sum::<usize>(), 8, "{reported:?}");
    assert!(
        reported.iter().all(|&n| n > 0),
        "both instances report: {reported:?}"
    );
    for gw in instances {
        gw.stop();
    }
}

/// The rules that judge a batch against the grant's history (rate and daily-amount
/// windows, known environments, the scope baseline) keep judging it after a restart:
/// every alert below needs what the first instance saw, read back from the state topic.
#[test]
fn windowed_limits_and_baselines_carry_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("windows");
    let grants_file = dir.path().join("grants.yaml");
    let text = grant("limited", SINCE, "30d", &["GET /a", "GET /b"]).replace(
        "  scopes:\n",
        "  rate_limit: 3/h\n  max_daily_amount: 1000\n  scopes:\n",
    );
    std::fs::write(&grants_file, text).unwrap();
    let config = write_config(dir.path(), &names, &grants_file, "");
    let paid = |id: &str, action: &str, ts: &str, env: &str, amount: f64| {
        let mut e = event(id, "c-limited", action, ts);
        e["environment"] = json!(env);
        e["amount"] = json!(amount);
        e["currency"] = json!("EUR");
        e
    };
    let seen =
        "grantwatch_actions_total{grant=\"limited\",partner=\"p-limited\",verdict=\"in_purpose\"}";

    // Before: the baseline starts on 1 November; two payouts of 400 EUR on 20 November
    // in the 10:00 hour, all in prod.
    produce_lines(
        &names.actions,
        &keyed(&[
            event("first", "c-limited", "GET /a", "2026-11-01T09:00:00Z"),
            paid("e1", "GET /a", "2026-11-20T10:00:01Z", "prod", 400.0),
            paid("e2", "GET /a", "2026-11-20T10:00:02Z", "prod", 400.0),
        ]),
    );
    let mut first = Grantwatch::start(&config);
    wait_for_metrics(&mut first, WAIT, "three actions", |m| {
        try_sample(m, seen) == Some(3.0)
    });
    first.stop();

    // After the restart: e3 stays within every limit; e4 is the fourth action of the
    // hour, takes the day to 1100 EUR, is the credential's first action outside prod
    // and the grant's first use of GET /b after its learning week.
    let mut second = Grantwatch::start(&config);
    produce_lines(
        &names.actions,
        &keyed(&[
            paid("e3", "GET /a", "2026-11-20T10:00:03Z", "prod", 100.0),
            paid("e4", "GET /b", "2026-11-20T10:00:04Z", "sandbox", 200.0),
        ]),
    );
    let alerts = wait_until(&mut second, WAIT, "four alerts", || {
        let alerts = crate::support::alerts(&names.alerts);
        if alerts.len() >= 4 {
            Ok(alerts)
        } else {
            Err(format!("{alerts:?}"))
        }
    });
    second.stop();
    let mut got: Vec<(String, Vec<Value>)> = alerts
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_owned(),
                a["event_ids"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let e4 = vec![json!("e4")];
    assert_eq!(
        got,
        [
            ("credential_environment_mismatch".to_owned(), e4.clone()),
            ("daily_amount_exceeded".to_owned(), e4.clone()),
            ("first_seen_action".to_owned(), e4.clone()),
            ("rate_limit_exceeded".to_owned(), e4),
        ],
        "{alerts:#?}"
    );
}

/// Grant files with no grant stop `run` at start, saying how to start so on purpose.
#[test]
fn run_refuses_an_empty_grant_set_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("grants.yaml"), "# emptied by accident\n").unwrap();
    std::fs::write(
        dir.path().join("grantwatch.toml"),
        "[kafka]\nbrokers = \"127.0.0.1:1\"\n[grants]\npaths = [\"grants.yaml\"]\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let (code, stderr) = run_to_exit(&["run", "--config", "grantwatch.toml"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no grant in") && stderr.contains("--allow-empty-grants"),
        "{stderr}"
    );
}
