//! Phase two: raw values → validated [`Config`]; every problem is collected so the
//! user fixes them in one pass.

use std::path::Path;
use std::time::Duration;

use super::error::ConfigError;
use super::raw::RawConfig;

use super::{AlertsConfig, ArchiveConfig, BatchConfig, Config, GrantsConfig, KafkaConfig};
use crate::alerts::{AlertFormat, Routes, SinkSettings};
use crate::archive::{ArchiveLocation, ArchiveSettings};
use crate::time::parse_duration;

struct Errors(Vec<String>);

impl Errors {
    fn duration(&mut self, key: &str, text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| {
            self.0.push(format!("`{key}`: {e}"));
            Duration::ZERO
        })
    }

    fn require(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }
}

/// The machine's name, stable across restarts of a host, a VM or a StatefulSet pod:
/// the default static-membership id.
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

pub(super) fn validate(raw: RawConfig, path: &Path) -> Result<Config, ConfigError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &str| base.join(p);
    let mut errors = Errors(Vec::new());

    let formats = super::topics::topic_formats(&raw.kafka, &mut errors.0);
    errors.require(!raw.kafka.brokers.trim().is_empty(), || {
        "`kafka.brokers` is empty".into()
    });
    errors.require(!raw.kafka.group_id.trim().is_empty(), || {
        "`kafka.group_id` is empty".into()
    });
    errors.require(!raw.kafka.topics.is_empty(), || {
        "`kafka.topics` lists no topic".into()
    });
    errors.require(raw.kafka.max_message_bytes > 0, || {
        "`kafka.max_message_bytes` must be positive".into()
    });
    let librdkafka = raw
        .kafka
        .librdkafka
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            (k, v)
        })
        .collect();

    let max_lifetime = errors.duration("grants.max_lifetime", &raw.grants.max_lifetime);
    let default_idle_after =
        errors.duration("grants.default_idle_after", &raw.grants.default_idle_after);
    let reload_interval = errors.duration("grants.reload_interval", &raw.grants.reload_interval);
    let file_owners = raw.alerts.file_owners;
    let format = match raw.alerts.format.as_deref() {
        None => AlertFormat::default(),
        Some(text) => AlertFormat::parse(text).unwrap_or_else(|| {
            errors.0.push(format!(
                "`alerts.format`: `{text}` is not one of grantwatch, ocsf"
            ));
            AlertFormat::default()
        }),
    };
    errors.require(file_owners.is_empty() || raw.alerts.file.is_some(), || {
        "`alerts.file_owners` filters `alerts.file`, which is not set".into()
    });
    let state_topic = raw
        .kafka
        .state_topic
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{}.state", raw.kafka.group_id));
    let dedup_window = errors.duration("alerts.dedup_window", &raw.alerts.dedup_window);
    let routes = Routes::new(&raw.alerts.id_patterns).unwrap_or_else(|e| {
        errors.0.push(format!("`alerts.id_patterns`{e}"));
        Routes::default()
    });
    let update_interval = errors.duration("alerts.update_interval", &raw.alerts.update_interval);
    errors.require(!dedup_window.is_zero(), || {
        "`alerts.dedup_window` must be positive".into()
    });
    let linger = errors.duration("batch.linger", &raw.batch.linger);
    errors.require(raw.batch.max_events > 0, || {
        "`batch.max_events` must be positive".into()
    });
    let metrics_listen = raw.metrics.listen.parse().unwrap_or_else(|e| {
        errors.0.push(format!(
            "`metrics.listen`: `{}` is not an address like 127.0.0.1:9464: {e}",
            raw.metrics.listen
        ));
        std::net::SocketAddr::from(([127, 0, 0, 1], 9464))
    });
    let alertmanager_url = raw.alerts.alertmanager_url.filter(|u| !u.is_empty());
    if let Some(url) = &alertmanager_url {
        errors.require(
            url.starts_with("http://") || url.starts_with("https://"),
            || format!("`alerts.alertmanager_url`: `{url}` is not an http(s) URL"),
        );
    }
    let kafka_topic = raw.alerts.kafka_topic.filter(|t| !t.is_empty());
    let archive_flush = errors.duration("archive.flush_interval", &raw.archive.flush_interval);
    errors.require(!archive_flush.is_zero(), || {
        "`archive.flush_interval` must be positive".into()
    });
    errors.require(raw.archive.max_rows > 0, || {
        "`archive.max_rows` must be positive".into()
    });
    let base = path.parent().unwrap_or(Path::new("."));
    let archive = raw.archive.url.filter(|u| !u.is_empty()).and_then(|url| {
        ArchiveLocation::parse(&url, base)
            .map_err(|e| errors.0.push(format!("`archive.url`: {e}")))
            .ok()
            .map(|location| ArchiveConfig {
                location,
                settings: ArchiveSettings {
                    flush_interval: archive_flush,
                    max_rows: usize::try_from(raw.archive.max_rows).unwrap_or(usize::MAX),
                },
            })
    });

    if !errors.0.is_empty() {
        return Err(ConfigError {
            file: path.to_owned(),
            errors: errors.0,
        });
    }
    Ok(Config {
        kafka: KafkaConfig {
            brokers: raw.kafka.brokers,
            group_id: raw.kafka.group_id,
            instance_id: match raw.kafka.instance_id {
                None => host_name(),
                Some(id) if id.trim().is_empty() => None,
                Some(id) => Some(id),
            },
            topics: raw.kafka.topics,
            formats,
            dead_letter_topic: raw.kafka.dead_letter_topic,
            state_topic,
            max_message_bytes: usize::try_from(raw.kafka.max_message_bytes).unwrap_or(usize::MAX),
            librdkafka,
        },
        grants: GrantsConfig {
            paths: raw.grants.paths.iter().map(|p| resolve(p)).collect(),
            max_lifetime,
            default_idle_after,
            reload_interval,
            allow_empty: raw.grants.allow_empty,
        },
        rule_dirs: raw.rules.dirs.iter().map(|p| resolve(p)).collect(),
        report_dirs: raw.reports.dirs.iter().map(|p| resolve(p)).collect(),
        alerts: AlertsConfig {
            sinks: SinkSettings {
                kafka_topic,
                file: raw
                    .alerts
                    .file
                    .filter(|f| !f.is_empty())
                    .map(|f| resolve(&f)),
                file_owners,
                alertmanager_url,
                stdout: raw.alerts.stdout,
                format,
            },
            suppressions: raw.alerts.suppressions.iter().map(|p| resolve(p)).collect(),
            dedup_window,
            routes,
            update_interval,
        },
        archive,
        metrics_listen,
        batch: BatchConfig {
            max_events: usize::try_from(raw.batch.max_events).unwrap_or(usize::MAX),
            linger,
        },
        scope: raw.scope,
        readable_secrets: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, super::ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_toml(text, Path::new("/etc/gw/grantwatch.toml"), env)
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = load("[kafka]\n", &[]).expect("valid");
        assert_eq!(c.kafka.topics, ["partner-actions"]);
        assert_eq!(c.batch.max_events, 8192);
        assert_eq!(c.grants.paths, [Path::new("/etc/gw/grants/")]);
        assert_eq!(c.metrics_listen.to_string(), "127.0.0.1:9464");
        assert_eq!(c.kafka.state_topic, "grantwatch.state");
        assert_eq!(c.grants.reload_interval, std::time::Duration::from_secs(2));
    }

    #[test]
    fn env_overrides_keep_types_and_map_librdkafka_dots() {
        let c = load(
            "[kafka]\nbrokers = \"a:1\"\n",
            &[
                ("GRANTWATCH__KAFKA__BROKERS", "b:2"),
                ("GRANTWATCH__BATCH__MAX_EVENTS", "100"),
                ("GRANTWATCH__KAFKA__LIBRDKAFKA__SASL_PASSWORD", "s3cret"),
                ("OTHER", "x"),
            ],
        )
        .expect("valid");
        assert_eq!(c.kafka.brokers, "b:2");
        assert_eq!(c.batch.max_events, 100);
        assert_eq!(
            c.kafka.librdkafka.get("sasl.password").map(String::as_str),
            Some("s3cret")
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = load("[kafka]\nbrokerz = \"x\"\n", &[]).expect_err("unknown");
        assert!(e.to_string().contains("unknown field `brokerz`"), "{e}");
        let e = load("[kafka]\n[kafka.librdkafka]\n[grantz]\n", &[]).expect_err("unknown");
        assert!(e.to_string().contains("grantz"), "{e}");
    }

    #[test]
    fn endpoints_listen_on_loopback_unless_configured() {
        let c = load("", &[]).expect("defaults");
        assert!(c.metrics_listen.ip().is_loopback(), "{}", c.metrics_listen);
        let c = load("[metrics]\nlisten = \"0.0.0.0:9464\"\n", &[]).expect("explicit");
        assert!(c.metrics_listen.ip().is_unspecified());
    }

    #[test]
    fn every_error_at_once() {
        let e = load("[kafka]\nformat = \"xml\"\n[batch]\nlinger = \"soon\"\nmax_events = 0\n[alerts]\ndedup_window = \"1x\"\n", &[])
            .expect_err("invalid");
        assert_eq!(e.errors.len(), 5, "{e}");
    }

    #[test]
    fn per_topic_formats_override_the_default() {
        let c = load(
            "[kafka]\ntopics = [\"a\", \"b\"]\nformat = \"cloudtrail\"\n[kafka.topic.b]\nformat = \"k8s-audit\"\nenvironment = \"prod-eu-1\"\n",
            &[],
        )
        .expect("valid");
        assert_eq!(
            c.kafka.format_of("a").format,
            crate::decode::Format::CloudTrail
        );
        let b = c.kafka.format_of("b");
        assert_eq!(
            (b.format, b.environment.as_deref()),
            (crate::decode::Format::K8sAudit, Some("prod-eu-1"))
        );
        let e = load("[kafka]\n[kafka.topic.zz]\nformat = \"xml\"\n", &[]).expect_err("invalid");
        assert_eq!(e.errors.len(), 1, "{e}");
        assert!(e.errors[0].contains("not in kafka.topics"), "{e}");
    }

    #[test]
    fn mapped_topics_take_a_mapping_or_a_preset_and_name_each_mistake() {
        use crate::decode::{Format, TsUnit};
        let c = load(
            "[kafka]\ntopics = [\"kong\", \"own\", \"ocsf\"]\n\
             [kafka.topic.kong]\nformat = \"kong\"\n\
             [kafka.topic.own]\nformat = \"mapped\"\n\
             [kafka.topic.own.mapping]\nts = \"/time\"\nts_unit = \"s\"\ncredential_id = \"/consumer/id\"\naction = \"{/method} {/route}\"\n\
             [kafka.topic.ocsf]\nformat = \"ocsf\"\nts_unit = \"us\"\n",
            &[],
        )
        .expect("valid");
        let kong = c.kafka.format_of("kong");
        assert_eq!(kong.format, Format::Mapped);
        assert!(kong.mapping.is_some());
        assert_eq!(
            c.kafka.format_of("own").mapping.unwrap().ts_unit(),
            Some(TsUnit::Seconds)
        );
        assert_eq!(c.kafka.format_of("ocsf").ts_unit, TsUnit::Micros);

        let e = load(
            "[kafka]\ntopics = [\"a\", \"b\", \"c\", \"d\"]\n\
             [kafka.topic.a]\nformat = \"mapped\"\n\
             [kafka.topic.b]\nformat = \"mapped\"\n[kafka.topic.b.mapping]\nts = \"time\"\ncredential_id = \"/c\"\naction = \"/a\"\n\
             [kafka.topic.c]\nformat = \"native\"\nts_unit = \"s\"\n\
             [kafka.topic.d]\nformat = \"cloudtrail\"\n[kafka.topic.d.mapping]\npreset = \"kong\"\n",
            &[],
        )
        .expect_err("invalid");
        let text = e.to_string();
        for expected in [
            "`kafka.topic.\"a\".mapping`: format mapped needs a mapping",
            "`kafka.topic.\"b\".mapping`: `ts`: `time` is neither a JSON pointer",
            "`kafka.topic.\"c\".ts_unit`: native events are always in milliseconds",
            "`kafka.topic.\"d\".mapping`: only a mapped topic has a mapping",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        assert_eq!(e.errors.len(), 4, "{e}");
    }

    #[test]
    fn archive_paths_resolve_and_bad_settings_are_named() {
        let c = load("[archive]\nurl = \"archive\"\n", &[]).expect("valid");
        let archive = c.archive.expect("on");
        assert_eq!(archive.location.url().as_str(), "file:///etc/gw/archive/");
        // The file's defaults are the writer's.
        assert_eq!(archive.settings, crate::archive::ArchiveSettings::default());
        assert!(
            load("[archive]\nurl = \"\"\n", &[])
                .unwrap()
                .archive
                .is_none()
        );
        let c = load("[archive]\nurl = \"s3://bucket/grantwatch\"\n", &[]).expect("valid");
        assert_eq!(
            c.archive.unwrap().location.url().as_str(),
            "s3://bucket/grantwatch/"
        );
        let e = load(
            "[archive]\nurl = \"nope://x\"\nflush_interval = \"0s\"\nmax_rows = 0\n",
            &[],
        )
        .expect_err("invalid");
        assert_eq!(e.errors.len(), 3, "{e}");
        assert!(
            e.errors.iter().any(|m| m.starts_with("`archive.url`")),
            "{e}"
        );
    }

    #[test]
    fn owner_filter_needs_a_file() {
        let e = load("[alerts]\nfile_owners = [\"a@bank.example\"]\n", &[]).expect_err("no file");
        assert!(e.to_string().contains("alerts.file_owners"), "{e}");
        let c = load(
            "[alerts]\nfile = \"alerts/{owner}.jsonl\"\nfile_owners = [\"a@bank.example\"]\n",
            &[],
        )
        .expect("valid");
        assert_eq!(c.alerts.sinks.file_owners, ["a@bank.example"]);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = load("[kafka]\nbrokers = \n", &[]).expect_err("syntax");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn scope_and_id_patterns() {
        let c = load(
            "[scope]\nexclude = [\"svc-*\"]\nformat_defaults = false\n[alerts]\nid_patterns = [\"INV[0-9]+\"]\n",
            &[],
        )
        .expect("valid");
        assert_eq!(c.scope.exclude, ["svc-*"]);
        assert!(c.scope.credentials.is_empty() && !c.scope.format_defaults);
        assert_eq!(
            c.alerts.grouping().routes.template("GET /invoices/INV42"),
            "GET /invoices/{id}"
        );
        assert!(load("", &[]).expect("defaults").scope.format_defaults);
        let e = load(
            "[scope]\nexclud = []\n[alerts]\nid_patterns = [\"(\"]\n",
            &[],
        )
        .expect_err("invalid");
        assert!(e.to_string().contains("exclud"), "{e}");
        let e = load("[alerts]\nid_patterns = [\"(\"]\n", &[]).expect_err("invalid");
        assert!(e.to_string().contains("`alerts.id_patterns`[0]"), "{e}");
    }
}
