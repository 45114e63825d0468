//! The archive and its reports over a generated multi-day history: every canned
//! report is checked against the answers the generator planted and against DuckDB
//! running the same question over the same Parquet files (tests/history/check.py).
//! Grant proposals and replay from the archive run over the same history.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use grantwatch::archive::{Archive, ArchiveLocation, ArchiveSettings};

use crate::support::*;

const SINCE: &str = "2026-11-01";
const UNTIL: &str = "2026-11-04";

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/history")
        .join(name)
        .display()
        .to_string()
}

fn python_run(args: &[&str]) -> String {
    let out = Command::new(python()).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Grant versions as `grantwatch run` archives them at each load: the v1 set loaded
/// in October, v2 on 2 November, and v2 again after a restart (not a change).
fn archive_grant_versions(dir: &Path) {
    let location = ArchiveLocation::parse("archive", dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let settings = ArchiveSettings::default();
        let mut archive =
            Archive::start(location, settings, tokio::runtime::Handle::current()).unwrap();
        for (file, at) in [
            ("grants_v1.yaml", "2026-10-15T09:00:00Z"),
            ("grants.yaml", "2026-11-02T12:00:00Z"),
            ("grants.yaml", "2026-11-03T08:00:00Z"),
        ] {
            let set = grantwatch::grants::load_paths(
                &[dir.join(file)],
                std::time::Duration::from_secs(30 * 86_400),
            )
            .unwrap();
            let at = grantwatch::time::parse_time(at).unwrap();
            archive.append_grants(&set, at).await.unwrap();
        }
        archive.flush().await.unwrap();
    });
}

/// Generates the history, archives it with `replay --archive-out`, and writes the
/// config `query` reads.
fn generated_history(dir: &Path) {
    let out = dir.to_str().unwrap();
    python_run(&[&script("generate.py"), "--out", out]);
    let (code, stderr) = run_to_exit(
        &[
            "replay",
            "--input",
            "events.jsonl",
            "--grants",
            "grants.yaml",
            "--alerts-out",
            "alerts.jsonl",
            "--archive-out",
            "archive",
        ],
        dir,
    );
    assert_eq!(code, 0, "{stderr}");
    archive_grant_versions(dir);
    std::fs::write(
        dir.join("grantwatch.toml"),
        "[grants]\npaths = [\"grants.yaml\"]\n[archive]\nurl = \"archive\"\n",
    )
    .unwrap();
}

#[test]
fn canned_reports_agree_with_planted_answers_and_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    generated_history(dir.path());
    reports_agree(dir.path());
}

/// The archive as a live writer leaves it, a file every few seconds, then compacted:
/// every report gives the same answers as DuckDB's before and after, and each
/// partition ends as one file.
#[test]
fn compaction_merges_small_files_and_every_report_still_agrees() {
    let dir = tempfile::tempdir().unwrap();
    generated_history(dir.path());
    let archive = dir.path().join("archive");
    python_run(&[&script("split.py"), archive.to_str().unwrap(), "7"]);
    let partitions = partition_files(&archive);
    assert!(partitions.values().any(|&n| n >= 7), "{partitions:?}");
    reports_agree(dir.path());

    let compact = [
        "archive",
        "compact",
        "--config",
        "grantwatch.toml",
        "--older-than",
        "0s",
    ];
    let (code, stdout, stderr) = run_for_output(&compact, dir.path());
    assert_eq!(code, 0, "{stderr}");
    let merged: usize = partitions.values().sum();
    assert!(
        stdout.starts_with(&format!(
            "{} partitions compacted: {merged} files",
            partitions.len()
        )),
        "{stdout}"
    );
    let after = partition_files(&archive);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        partitions.keys().collect::<Vec<_>>()
    );
    assert!(after.values().all(|&n| n == 1), "{after:?}");
    reports_agree(dir.path());

    // Nothing left to merge: a second run changes nothing.
    let (code, stdout, stderr) = run_for_output(&compact, dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("0 partitions compacted"), "{stdout}");
}

/// Compaction beside a running instance that puts a file after every burst of
/// events: whatever the interleaving of the writer's puts and the merges, every
/// event is archived exactly once.
#[test]
fn compaction_beside_a_live_writer_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("compact-live");
    let config = archiving_config(dir.path(), &names);
    let mut gw = Grantwatch::start(&config);
    let compact = [
        "archive",
        "compact",
        "--config",
        config.to_str().unwrap(),
        "--older-than",
        "0s",
    ];
    let (rounds, per_round) = (6, 50);
    let mut merging_rounds = 0;
    for round in 0..rounds {
        let events: Vec<serde_json::Value> = (0..per_round)
            .map(|i| {
                serde_json::json!({
                    "ts": "2026-11-30T10:00:00Z",
                    "event_id": format!("e-{round}-{i}"),
                    "credential_id": format!("cli_live_{}", i % 5),
                    "action": "GET /v1/ping",
                })
            })
            .collect();
        produce_lines(&names.actions, &keyed(&events));
        std::thread::sleep(Duration::from_millis(1500));
        let (code, stdout, stderr) = run_for_output(&compact, dir.path());
        assert_eq!(code, 0, "round {round}: {stderr}");
        merging_rounds += usize::from(!stdout.starts_with("0 partitions"));
    }
    // The writer's new file met the last round's merged file most rounds.
    assert!(
        merging_rounds >= 3,
        "{merging_rounds} of {rounds} rounds merged"
    );
    let everything = f64::from(rounds * per_round);
    wait_for_metrics(
        &mut gw,
        Duration::from_secs(60),
        "every offset committed",
        |m| try_sample(m, "grantwatch_consumer_committed_offset{") == Some(everything),
    );
    gw.stop();
    let (code, _, stderr) = run_for_output(&compact, dir.path());
    assert_eq!(code, 0, "{stderr}");
    let stdout = query_scenario(
        &config,
        "SELECT count(*) AS actions, count(DISTINCT event_id) AS distinct_events FROM actions",
        "json",
    );
    let counts: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(counts[0]["actions"], rounds * per_round, "{stdout}");
    assert_eq!(counts[0]["distinct_events"], rounds * per_round, "{stdout}");
    let files = partition_files(&dir.path().join("archive"));
    assert_eq!(files.get("date=2026-11-30"), Some(&1), "{files:?}");
}

/// Parquet files per partition directory, by path below the archive.
fn partition_files(archive: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    let mut dirs = vec![archive.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let partition = dir.strip_prefix(archive).unwrap().display().to_string();
                *counts.entry(partition).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Runs every canned report over the history in `dir` and checks each against the
/// planted answers and DuckDB (tests/history/check.py).
fn reports_agree(dir: &Path) {
    let gw = dir.join("gw");
    let _ = std::fs::remove_dir_all(&gw);
    std::fs::create_dir(&gw).unwrap();
    let reports = grantwatch::query::load_reports(&[]).unwrap();
    assert_eq!(reports.len(), 11);
    for report in reports.iter().map(|r| r.name.as_str()) {
        let args = [
            "query",
            report,
            "--config",
            "grantwatch.toml",
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--format",
            "json",
        ];
        let (code, stdout, stderr) = run_for_output(&args, dir);
        assert_eq!(code, 0, "{report}: {stderr}");
        std::fs::write(gw.join(format!("{report}.json")), stdout).unwrap();
    }
    let report = python_run(&[
        &script("check.py"),
        "--dir",
        dir.to_str().unwrap(),
        "--since",
        SINCE,
        "--until",
        UNTIL,
    ]);
    eprintln!("{report}");
    assert_eq!(
        report.matches("DuckDB agrees: True").count(),
        reports.len(),
        "{report}"
    );
}

#[test]
fn grants_propose_narrows_to_observed_use_and_passes_grants_check() {
    let dir = tempfile::tempdir().unwrap();
    generated_history(dir.path());
    let propose = |grant: &str| {
        let args = [
            "grants",
            "propose",
            grant,
            "--config",
            "grantwatch.toml",
            "--since",
            SINCE,
            "--until",
            UNTIL,
        ];
        let (code, stdout, stderr) = run_for_output(&args, dir.path());
        assert_eq!(code, 0, "{stderr}");
        let file = dir.path().join(format!("{grant}.proposed.yaml"));
        std::fs::write(&file, &stdout).unwrap();
        let check = ["grants", "check", "--at", UNTIL, file.to_str().unwrap()];
        let (code, stdout_check, stderr) = run_for_output(&check, dir.path());
        assert_eq!(
            code, 0,
            "proposal fails grants check:\n{stdout}\n{stdout_check}{stderr}"
        );
        stdout
    };

    let payouts = propose("payouts-main");
    for expected in [
        "# removed scope: GET /v1/reports/** (no action in the window)",
        "# removed from data_classes: financial.account (not used in the window)",
        "    data_classes: [pii.basic]\n",
        "  - action: POST /v1/payouts\n",
        "  - action: GET /v1/payouts/*\n",
        "  delegates: [acme-sub]\n",
        "  environments: [prod]\n",
        "# removed emergency: window ended 2026-11-02T12:00:00Z (INC-1 backlog)",
        "    currencies: [EUR, GBP]\n",
    ] {
        assert!(
            payouts.contains(expected),
            "missing `{expected}` in\n{payouts}"
        );
    }
    let ledger = propose("ledger-read");
    assert!(
        ledger.contains(
            "# was unrestricted (any); narrowed to what was used\n  environments: [prod, sandbox]\n"
        ),
        "{ledger}"
    );
    let idle = propose("idle-oldco");
    assert!(idle.contains("  status: revoked\n"), "{idle}");
    let kyc = propose("kyc-b");
    assert!(
        kyc.contains("# removed scope: GET /v1/kyc/archive/* (no action in the window)"),
        "{kyc}"
    );
}

#[test]
fn replay_of_the_archive_matches_replay_of_the_files() {
    let dir = tempfile::tempdir().unwrap();
    generated_history(dir.path());
    let (code, stderr) = run_to_exit(
        &[
            "replay",
            "--archive",
            "archive",
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--grants",
            "grants.yaml",
            "--alerts-out",
            "replayed.jsonl",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let ids = |file: &str| -> std::collections::BTreeSet<(String, u64)> {
        read_jsonl(&dir.path().join(file))
            .iter()
            .filter(|a| is_event_alert(a))
            .map(|a| {
                (
                    a["alert_id"].as_str().unwrap().to_owned(),
                    a["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (from_files, from_archive) = (ids("alerts.jsonl"), ids("replayed.jsonl"));
    assert!(from_files.len() > 50, "{}", from_files.len());
    assert_eq!(from_archive, from_files);
}

/// Runs `sql` (written beside `config`) over the scenario's archive; the scenario
/// happens on 30 November, so the window reaches past it.
fn query_scenario(config: &Path, sql: &str, format: &str) -> String {
    let dir = config.parent().unwrap();
    let file = dir.join(format!("{}.sql", unique("query")));
    std::fs::write(&file, sql).unwrap();
    let args = [
        "query",
        file.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--until",
        "2026-12-01",
        "--format",
        format,
    ];
    let (code, stdout, stderr) = run_for_output(&args, dir);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// A scenario config that archives under `archive/`, at the archive's defaults.
fn archiving_config(dir: &Path, names: &Names) -> std::path::PathBuf {
    let tail = "[archive]\nurl = \"archive\"\n";
    let extra = Extra {
        tail,
        ..Extra::default()
    };
    write_config_with(dir, names, &fixture("scenario/grants.yaml"), &extra)
}

/// Live: every event and alert reaches the archive before its offset is committed,
/// and once the backlog is read both happen without a stop: a kill then loses
/// nothing and leaves nothing to re-read. Replaying the archive raises the event
/// alerts live raised, with the same ids.
#[test]
fn live_archive_holds_every_event_and_replays_to_the_live_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("archive");
    let config = archiving_config(dir.path(), &names);
    let events = scenario_with_sentinel();
    produce_lines(&names.actions, &keyed(&events));
    let mut gw = Grantwatch::start(&config);
    wait_for_event_alert(
        &names.alerts,
        "sentinel",
        std::time::Duration::from_secs(90),
        &mut gw,
    );
    let everything = events.len() as f64;
    let within = Duration::from_secs(60);
    wait_for_metrics(&mut gw, within, "every offset committed", |m| {
        try_sample(m, "grantwatch_consumer_committed_offset{") == Some(everything)
    });
    let log = gw.log();
    gw.kill();
    assert_eq!(
        committed_offset(&names.group, &names.actions),
        Some(events.len() as i64),
        "{log}"
    );

    let stdout = query_scenario(
        &config,
        "SELECT (SELECT count(*) FROM actions) AS actions, \
                (SELECT count(DISTINCT event_id) FROM actions) AS distinct_events, \
                (SELECT count(*) FROM grant_versions) AS grant_rows",
        "json",
    );
    let counts: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let grants = grantwatch::grants::load_paths(
        &[fixture("scenario/grants.yaml")],
        std::time::Duration::from_secs(86_400),
    )
    .unwrap();
    assert_eq!(counts[0]["actions"], events.len(), "{stdout}");
    assert_eq!(counts[0]["distinct_events"], events.len(), "{stdout}");
    assert_eq!(counts[0]["grant_rows"], grants.len(), "{stdout}");

    // The archived alerts are the alerts delivered.
    let live = alerts(&names.alerts);
    let stdout = query_scenario(&config, "SELECT DISTINCT alert_id FROM alerts", "csv");
    let archived: std::collections::BTreeSet<&str> = stdout.lines().skip(1).collect();
    let delivered: std::collections::BTreeSet<&str> = live
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(archived, delivered);

    let (code, stderr) = run_to_exit(
        &[
            "replay",
            "--archive",
            "archive",
            "--grants",
            fixture("scenario/grants.yaml").to_str().unwrap(),
            "--alerts-out",
            "replayed.jsonl",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let event_ids = |alerts: &[serde_json::Value]| -> std::collections::BTreeSet<String> {
        alerts
            .iter()
            .filter(|a| is_event_alert(a))
            .map(|a| a["alert_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let replayed = read_jsonl(&dir.path().join("replayed.jsonl"));
    assert_eq!(event_ids(&replayed), event_ids(&live));
    assert!(event_ids(&live).len() >= 10);
}

/// An archive that cannot be written holds offsets back (retried, counted, not
/// ready) without losing anything: once it can be written, every event lands and the
/// offsets are committed.
#[test]
fn an_unwritable_archive_holds_offsets_until_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("archive-outage");
    let config = archiving_config(dir.path(), &names);
    // A file where the archive directory should be: every put fails.
    let blocker = dir.path().join("archive");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let events = scenario_with_sentinel();
    produce_lines(&names.actions, &keyed(&events));
    let mut gw = Grantwatch::start(&config);
    let wait = std::time::Duration::from_secs(90);
    wait_for_metrics(&mut gw, wait, "failed archive flushes", |m| {
        try_sample(m, "grantwatch_sink_errors_total{sink=\"archive\"}").is_some_and(|n| n >= 2.0)
    });
    assert_eq!(committed_offset(&names.group, &names.actions), None);
    assert_eq!(http_get(&gw.metrics_addr(), "/readyz", None).0, 503);

    std::fs::remove_file(&blocker).unwrap();
    wait_until(
        &mut gw,
        wait,
        "offsets committed after recovery",
        || match committed_offset(&names.group, &names.actions) {
            Some(n) if n == events.len() as i64 => Ok(()),
            other => Err(format!("committed {other:?}")),
        },
    );
    let metrics = wait_for_metrics(&mut gw, wait, "rows archived", |m| {
        try_sample(m, "grantwatch_archive_rows_total").is_some_and(|n| n >= events.len() as f64)
    });
    gw.stop();
    assert!(sample(&metrics, "grantwatch_archive_bytes_total") > 0.0);
    let stdout = query_scenario(
        &config,
        "SELECT count(DISTINCT event_id) AS n FROM actions",
        "csv",
    );
    assert_eq!(stdout, format!("n\n{}\n", events.len()));
}
