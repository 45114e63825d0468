//! Security: a real broker with a SASL/SCRAM listener, credentials that never leak
//! into logs, errors or /metrics, a warning for a readable secret, and a clear error
//! at start for a wrong password.

use std::time::{Duration, Instant};

use crate::support::*;

const USER: &str = "grantwatch";
const PASSWORD: &str = "s3cret-Zq8vW2";

/// A config for `broker`'s SASL listener holding `password` in the file, mode `mode`.
fn sasl_config(
    dir: &std::path::Path,
    names: &Names,
    broker: &PrivateBroker,
    password: &str,
    mode: u32,
) -> std::path::PathBuf {
    let librdkafka = format!(
        "[kafka.librdkafka]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\
         \"sasl.mechanisms\" = \"SCRAM-SHA-256\"\n\"sasl.username\" = \"{USER}\"\n\
         \"sasl.password\" = \"{password}\"\n"
    );
    let config = write_config_with(
        dir,
        names,
        &fixture("scenario/grants.yaml"),
        &Extra {
            tail: &librdkafka,
            ..Extra::default()
        },
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&brokers(), broker.sasl_addr.as_deref().unwrap());
    std::fs::write(&config, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
    config
}

#[test]
fn sasl_scram_authenticates_and_secrets_stay_out_of_logs_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateBroker::start_sasl(&dir.path().join("kafka"), USER, PASSWORD);
    let names = Names::new("sasl");
    // Produced over the broker's plaintext listener, judged over SASL.
    produce_lines_at(
        &broker.addr,
        &names.actions,
        &keyed(&scenario_with_sentinel()),
    );
    let config = sasl_config(dir.path(), &names, &broker, PASSWORD, 0o644);

    let mut gw = Grantwatch::start(&config);
    let file = dir.path().join("alerts.jsonl");
    wait_for_file_alert(&mut gw, &file, "sentinel");
    let metrics = http_get(&gw.metrics_addr(), "/metrics", None).1;
    let log = gw.stop();
    assert!(
        log.contains("sasl.password and is readable by others (mode 0644)"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "secret in the log:\n{log}");
    assert!(!metrics.contains(PASSWORD), "secret in /metrics");
}

#[test]
fn a_wrong_password_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateBroker::start_sasl(&dir.path().join("kafka"), USER, PASSWORD);
    let names = Names::new("sasl-wrong");
    let wrong = "not-the-password-Xk3";
    let config = sasl_config(dir.path(), &names, &broker, wrong, 0o600);
    let started = Instant::now();
    let (code, stderr) = run_to_exit(&["run", "--config", config.to_str().unwrap()], dir.path());
    let took = started.elapsed();
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("refused the credentials") && stderr.contains("SASL authentication error"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong), "secret in the error:\n{stderr}");
    assert!(
        !stderr.contains("readable by others"),
        "mode 0600 is private"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
