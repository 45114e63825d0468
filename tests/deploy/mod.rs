//! deploy/: everything that can be checked without a container engine — files parse,
//! the Kubernetes PrometheusRule matches alerts.yml, promtool accepts and unit-tests
//! the rules, compose mounts exist, and the image runs as non-root. That every metric
//! these files query is exposed is checked against a live scrape in `metrics`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn yaml_docs(path: &Path) -> Vec<serde_yaml_ng::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            serde_yaml_ng::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn alert_rules() -> serde_yaml_ng::Value {
    yaml_docs(&deploy().join("prometheus/alerts.yml")).remove(0)
}

fn exprs_of(value: &serde_yaml_ng::Value, out: &mut Vec<String>) {
    match value {
        serde_yaml_ng::Value::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("expr") {
                    out.extend(v.as_str().map(str::to_owned));
                } else {
                    exprs_of(v, out);
                }
            }
        }
        serde_yaml_ng::Value::Sequence(s) => s.iter().for_each(|v| exprs_of(v, out)),
        _ => {}
    }
}

/// Every `grantwatch_*` metric the alert rules and the Grafana dashboard query.
pub fn queried_metric_names() -> BTreeSet<String> {
    let mut exprs = Vec::new();
    exprs_of(&alert_rules(), &mut exprs);
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy().join("grafana/grantwatch-dashboard.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    let mut names = BTreeSet::new();
    for expr in exprs {
        for (i, _) in expr.match_indices("grantwatch_") {
            let name: String = expr[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    assert!(
        names.len() >= 10,
        "expected the dashboard and rules to query most metrics: {names:?}"
    );
    names
}

#[test]
fn every_yaml_and_json_file_parses() {
    let mut all = Vec::new();
    files(&deploy(), &mut all);
    let mut checked = 0;
    for path in all {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") => {
                assert!(!yaml_docs(&path).is_empty(), "{} is empty", path.display());
                checked += 1;
            }
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked >= 12, "only {checked} files checked");
}

#[test]
fn the_prometheus_rule_resource_carries_exactly_alerts_yml() {
    let resource = yaml_docs(&deploy().join("kubernetes/prometheusrule.yaml")).remove(0);
    assert_eq!(resource["kind"], "PrometheusRule");
    assert_eq!(resource["spec"]["groups"], alert_rules()["groups"]);
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    let dir = deploy().join("prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool (apt-get install prometheus)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn compose_mounts_exist_and_every_service_is_there() {
    let dir = deploy().join("compose");
    let compose = yaml_docs(&dir.join("docker-compose.yml")).remove(0);
    let services = compose["services"].as_mapping().unwrap();
    let names: BTreeSet<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "alertmanager",
            "grafana",
            "grantwatch",
            "kafka",
            "prometheus"
        ])
    );
    for (name, service) in services {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if source.starts_with('.') {
                assert!(
                    dir.join(source).exists(),
                    "{name:?} mounts missing {source}"
                );
            }
        }
    }
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert_eq!(
        dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .count(),
        2,
        "multi-stage"
    );
    let user = dockerfile
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("USER");
    assert!(
        !user.contains(" 0") && !user.contains("root"),
        "runs as non-root: {user}"
    );
}

#[test]
fn kubernetes_manifests_cover_the_stack() {
    let mut kinds = BTreeSet::new();
    let mut all = Vec::new();
    files(&deploy().join("kubernetes"), &mut all);
    for path in all {
        for doc in yaml_docs(&path) {
            kinds.insert(doc["kind"].as_str().unwrap().to_owned());
        }
    }
    for kind in [
        "ConfigMap",
        "Deployment",
        "PrometheusRule",
        "Service",
        "ServiceMonitor",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/kubernetes");
    }
}
