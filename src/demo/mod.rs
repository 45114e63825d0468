//! `grantwatch demo`: the real pipeline over librdkafka's in-process mock cluster,
//! fed by generated partner traffic. Needs nothing installed.

mod traffic;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::FutureProducer;

use crate::config::Config;
use crate::{grants, service};

const ACTIONS_TOPIC: &str = "partner-actions";

/// Runs the demo for `seconds` (or until Ctrl-C).
pub async fn run(seconds: Option<u64>, metrics_listen: SocketAddr) -> anyhow::Result<()> {
    let cluster = MockCluster::new(1).context("cannot start the embedded Kafka mock cluster")?;
    // The mock cluster does not answer CreateTopics: make every topic here, the
    // state topic included.
    for topic in [
        ACTIONS_TOPIC,
        "partner-alerts",
        "partner-actions.dlq",
        "grantwatch-demo.state",
    ] {
        cluster
            .create_topic(topic, 3, 1)
            .with_context(|| format!("cannot create topic {topic}"))?;
    }
    let brokers = cluster.bootstrap_servers();
    let now = chrono::Utc::now();
    let grants_yaml = traffic::grants_yaml(now);
    let grants = grants::parse_str(
        &grants_yaml,
        Path::new("demo-grants.yaml"),
        Duration::from_secs(30 * 86_400),
    )?;
    // The archive, grants and a config for `grantwatch query` go to a directory of
    // their own, kept after the demo so its reports can be run.
    let dir = std::env::temp_dir().join(format!("grantwatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("grants.yaml"), &grants_yaml)?;
    std::fs::write(
        dir.join("grantwatch.toml"),
        "[grants]\npaths = [\"grants.yaml\"]\n[archive]\nurl = \"archive\"\n",
    )?;
    let toml = format!(
        "[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"grantwatch-demo\"\ntopics = [\"{ACTIONS_TOPIC}\"]\n\
         [grants]\npaths = [\"grants.yaml\"]\n[alerts]\nkafka_topic = \"partner-alerts\"\nstdout = true\n[metrics]\nlisten = \"{metrics_listen}\"\n\
         [archive]\nurl = \"archive\"\nflush_interval = \"5s\"\n"
    );
    let config = Config::from_toml(&toml, &dir.join("demo.toml"), std::iter::empty())?;
    println!(
        "grantwatch demo: embedded Kafka at {brokers}; {} grants; metrics on http://{metrics_listen}/metrics",
        grants.len()
    );
    println!(
        "Generating partner traffic: mostly in purpose, with a violation of every built-in rule now and then.\n"
    );

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    let generator = tokio::spawn(traffic::produce(producer, ACTIONS_TOPIC));
    let stop = async move {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    service::run(config, stop).await?;
    generator.abort();
    drop(cluster);
    let config = dir.join("grantwatch.toml");
    println!(
        "\nArchived to {}. Reports over it, for example:\n  grantwatch query alerts_summary --config {c}\n  \
         grantwatch query least_privilege --config {c}\n  grantwatch grants propose acme-payroll-payouts --config {c}",
        dir.join("archive").display(),
        c = config.display()
    );
    Ok(())
}
