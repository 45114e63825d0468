//! `grantwatch demo`, the README's first command: the real pipeline over librdkafka's
//! mock cluster. It must raise alerts of most built-in rules within seconds and leave
//! an archive the reports it suggests can read.

use std::collections::BTreeSet;

use crate::support::run_for_output;

/// Rules whose violations the demo sends first or raises at once: every short run must
/// show them.
const EARLY: [&str; 4] = [
    "out_of_purpose_action",
    "unknown_credential",
    "amount_over_limit",
    "data_class_not_allowed",
];

#[test]
fn the_demo_alerts_on_most_rules_and_its_archive_answers_reports() {
    let dir = std::env::temp_dir();
    let (code, stdout, stderr) = run_for_output(
        &["demo", "--seconds", "20", "--metrics-listen", "127.0.0.1:0"],
        &dir,
    );
    assert_eq!(code, 0, "{stderr}");
    // "ALERT <severity> <rule> grant=…"
    let rules: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("ALERT "))
        .filter_map(|rest| rest.split_whitespace().nth(1))
        .collect();
    for rule in EARLY {
        assert!(rules.contains(rule), "{rule} missing from {rules:?}");
    }
    // The violations cycle through the rules every ~4 s and scheduled rules run at
    // start: 21 kinds of 22 showed in 20 s, in a debug build on 2 busy cores (all but
    // `daily_amount_exceeded`, whose sums take a minute). A few may come late on a
    // slower machine.
    assert!(rules.len() >= 18, "only {} rules: {rules:?}", rules.len());

    let config = stdout
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("grantwatch query alerts_summary --config ")
        })
        .unwrap_or_else(|| panic!("no report suggested:\n{stdout}"))
        .to_owned();
    let (code, report, stderr) = run_for_output(
        &[
            "query",
            "alerts_summary",
            "--config",
            &config,
            "--format",
            "csv",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{stderr}");
    let reported: BTreeSet<&str> = report
        .lines()
        .skip(1)
        .filter_map(|row| row.split(',').next())
        .collect();
    for rule in EARLY {
        assert!(reported.contains(rule), "{rule} not archived: {report}");
    }
    if let Some(demo_dir) = std::path::Path::new(&config).parent() {
        let _ = std::fs::remove_dir_all(demo_dir);
    }
}
