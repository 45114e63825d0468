//! Test harness: unique topics, kcat producing, byte-exact topic reads, and the
//! `grantwatch` binary as a child process.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

pub fn brokers() -> String {
    std::env::var("GRANTWATCH_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A name no other test run uses.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("gw-{name}-{}-{nanos}", std::process::id())
}

/// Topics and group for one test.
#[derive(Clone)]
pub struct Names {
    pub actions: String,
    pub alerts: String,
    pub dlq: String,
    pub group: String,
}

impl Names {
    pub fn new(test: &str) -> Self {
        let base = unique(test);
        Self {
            actions: format!("{base}.actions"),
            alerts: format!("{base}.alerts"),
            dlq: format!("{base}.dlq"),
            group: format!("{base}.group"),
        }
    }
}

/// Writes a config for `names` into `dir`; `extra` is appended verbatim to `[kafka]`.
pub fn write_config(dir: &Path, names: &Names, grants: &Path, extra: &str) -> PathBuf {
    let extra = Extra {
        kafka: extra,
        ..Extra::default()
    };
    write_config_with(dir, names, grants, &extra)
}

/// Lines added to sections of a test config, and sections appended at the end.
#[derive(Default)]
pub struct Extra<'a> {
    pub kafka: &'a str,
    pub grants: &'a str,
    pub alerts: &'a str,
    pub tail: &'a str,
}

/// Like [`write_config`], with lines for several sections.
pub fn write_config_with(dir: &Path, names: &Names, grants: &Path, extra: &Extra) -> PathBuf {
    let path = dir.join("grantwatch.toml");
    let text = format!(
        "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{}\"\ntopics = [\"{}\"]\ndead_letter_topic = \"{}\"\n{}\n\
         [grants]\npaths = [\"{}\"]\n{}\n[alerts]\nkafka_topic = \"{}\"\nfile = \"alerts.jsonl\"\n{}\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n[batch]\nmax_events = 500\nlinger = \"20ms\"\n{}",
        brokers(),
        names.group,
        names.actions,
        names.dlq,
        extra.kafka,
        grants.display(),
        extra.grants,
        names.alerts,
        extra.alerts,
        extra.tail,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `count` instances of one group, each from its own config (in
/// `dir/instance-N`, where each writes its own alert file) with `extra`.
pub fn start_instances(
    dir: &Path,
    names: &Names,
    grants: &Path,
    extra: &Extra,
    count: usize,
) -> Vec<Grantwatch> {
    (0..count)
        .map(|n| {
            let sub = dir.join(format!("instance-{n}"));
            std::fs::create_dir_all(&sub).unwrap();
            Grantwatch::start(&write_config_with(&sub, names, grants, extra))
        })
        .collect()
}

/// Creates `topic` with `partitions` partitions (kcat's auto-creation makes one).
pub fn create_topic(topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime
        .block_on(admin.create_topics([&topic], &AdminOptions::new()))
        .unwrap();
    for result in results {
        result.unwrap();
    }
}

/// The value of the first sample whose line starts with `series`.
pub fn sample(text: &str, series: &str) -> f64 {
    try_sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// The value of the first sample whose line starts with `series`, if any.
pub fn try_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Polls `probe` until it yields a value; panics with `what`, the last probe's note
/// and the instance's log if `gw` exits or `timeout` passes first.
pub fn wait_until<T>(
    gw: &mut Grantwatch,
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let note = match probe() {
            Ok(value) => return value,
            Err(note) => note,
        };
        if let Some(status) = gw.child.try_wait().unwrap() {
            panic!("grantwatch exited early with {status}:\n{}", gw.log());
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}:\n{note}\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Polls `/metrics` of `gw` until `ready` accepts the scrape, or panics after `timeout`.
pub fn wait_for_metrics(
    gw: &mut Grantwatch,
    timeout: Duration,
    what: &str,
    ready: impl Fn(&str) -> bool,
) -> String {
    let addr = gw.metrics_addr();
    wait_until(gw, timeout, what, || {
        let (_, text) = http_get(&addr, "/metrics", None);
        if ready(&text) { Ok(text) } else { Err(text) }
    })
}

/// The scenario's events, then a sentinel: its alert proves every earlier event of
/// the partition was judged.
pub fn scenario_with_sentinel() -> Vec<Value> {
    let mut events = read_jsonl(&fixture("scenario/events.jsonl"));
    events.push(serde_json::json!({"ts": "2026-11-30T10:00:00Z", "event_id": "sentinel", "credential_id": "cli_sentinel", "action": "GET /ping"}));
    events
}

/// Produces `key<TAB>payload` lines with kcat; the broker auto-creates the topic with
/// one partition, which is what these tests use.
pub fn produce_lines(topic: &str, lines: &[String]) {
    produce_lines_at(&brokers(), topic, lines);
}

/// [`produce_lines`] to another cluster.
pub fn produce_lines_at(brokers: &str, topic: &str, lines: &[String]) {
    let mut kcat = Command::new("kcat")
        .args(["-P", "-b", brokers, "-t", topic, "-K", "\t", "-z", "none"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat (apt-get install kcat)");
    let mut stdin = kcat.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    assert!(kcat.wait().unwrap().success(), "kcat produce failed");
}

/// Produces each payload as one message, byte for byte (kcat sends each file whole).
pub fn produce_raw(topic: &str, dir: &Path, payloads: &[Vec<u8>]) {
    let mut files = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        let file = dir.join(format!("raw-{i:03}.msg"));
        std::fs::write(&file, payload).unwrap();
        files.push(file);
    }
    let status = Command::new("kcat")
        .args(["-P", "-b", &brokers(), "-t", topic, "-z", "none"])
        .args(&files)
        .status()
        .expect("kcat");
    assert!(status.success(), "kcat produce failed");
}

/// Produces one message with an empty value (`Some(b"")`) or no value at all (`None`,
/// a tombstone): kcat skips empty files, so this one goes through librdkafka.
pub fn produce_empty(topic: &str, value: Option<&[u8]>) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic);
    let record = match value {
        Some(value) => record.payload(value),
        None => record,
    };
    producer.send(record).map_err(|(e, _)| e).unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// The offset `group` committed for partition 0 of `topic`, if any.
pub fn committed_offset(group: &str, topic: &str) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(partitions, Duration::from_secs(10))
        .unwrap();
    match committed.find_partition(topic, 0)?.offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

/// Creates `topic` with topic-level `configs` (e.g. `max.message.bytes`).
pub fn create_topic_with(topic: &str, configs: &[(&str, &str)]) {
    admin_run(|admin, runtime| {
        use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
        let mut new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
        for (key, value) in configs {
            new = new.set(key, value);
        }
        let results = runtime
            .block_on(admin.create_topics([&new], &AdminOptions::new()))
            .unwrap();
        results.into_iter().for_each(|r| {
            r.unwrap();
        });
    });
}

/// Sets topic-level `configs` on an existing topic.
pub fn alter_topic(topic: &str, configs: &[(&str, &str)]) {
    admin_run(|admin, runtime| {
        use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
        let mut change = AlterConfig::new(ResourceSpecifier::Topic(topic));
        for (key, value) in configs {
            change = change.set(key, value);
        }
        let results = runtime
            .block_on(admin.alter_configs([&change], &AdminOptions::new()))
            .unwrap();
        results.into_iter().for_each(|r| {
            r.unwrap();
        });
    });
}

fn admin_run(
    f: impl FnOnce(
        &rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>,
        &tokio::runtime::Runtime,
    ),
) {
    let admin = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    f(&admin, &runtime);
}

/// Event lines keyed by credential_id, as partner gateways produce them.
pub fn keyed(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{}\t{}", e["credential_id"].as_str().unwrap(), e))
        .collect()
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One message read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap()
    }
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every message currently in partition 0 of `topic` (empty if it does not exist yet).
pub fn read_all(topic: &str) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "false")
        .create()
        .unwrap();
    let (low, high) = match consumer.fetch_watermarks(topic, 0, Duration::from_secs(5)) {
        Ok(w) => w,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    if high <= low {
        return out;
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(low))
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        // librdkafka hands transient errors to the poll too (a loaded machine's CI saw
        // "all broker connections are down" while the broker was up): it reconnects,
        // so reading goes on until the deadline.
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Record {
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
        if message.offset() + 1 >= high {
            break;
        }
    }
    out
}

/// The alerts on the alert topic, parsed.
pub fn alerts(topic: &str) -> Vec<Value> {
    read_all(topic).iter().map(Record::json).collect()
}

/// The alerts raised by event rules (scheduled findings name no events and depend on
/// the day the suite runs).
pub fn event_alerts(topic: &str) -> Vec<Value> {
    alerts(topic).into_iter().filter(is_event_alert).collect()
}

/// Whether an alert came from an event rule.
pub fn is_event_alert(alert: &Value) -> bool {
    alert["event_ids"]
        .as_array()
        .is_some_and(|ids| !ids.is_empty())
}

/// Polls `topic` until an alert names `event_id`, or panics after `timeout`.
pub fn wait_for_event_alert(
    topic: &str,
    event_id: &str,
    timeout: Duration,
    gw: &mut Grantwatch,
) -> Vec<Value> {
    let what = format!("an alert for {event_id}");
    wait_for_alert_naming(gw, timeout, &what, event_id, || alerts(topic))
}

/// Polls `read` until one of the alerts it returns names `event_id`; returns them.
fn wait_for_alert_naming(
    gw: &mut Grantwatch,
    timeout: Duration,
    what: &str,
    event_id: &str,
    read: impl Fn() -> Vec<Value>,
) -> Vec<Value> {
    wait_until(gw, timeout, what, || {
        let alerts = read();
        let named = alerts.iter().any(|a| {
            a["event_ids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|e| e == event_id))
        });
        if named {
            Ok(alerts)
        } else {
            Err(format!("{} alerts so far", alerts.len()))
        }
    })
}

/// A single-node broker of the test's own (`deploy/local/kafka.sh` on a free port,
/// state in `dir`), for tests that stop it; stopped when dropped.
pub struct PrivateBroker {
    pub addr: String,
    /// The SASL_PLAINTEXT (SCRAM-SHA-256) listener, if started with one.
    pub sasl_addr: Option<String>,
    port: u16,
    env: Vec<(&'static str, String)>,
    dir: PathBuf,
}

impl PrivateBroker {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, free_port_pair(), Vec::new())
    }

    /// With a SASL_PLAINTEXT listener too, and a SCRAM-SHA-256 `user` with `password`.
    pub fn start_sasl(dir: &Path, user: &str, password: &str) -> Self {
        let port = free_port_pair();
        // Not the broker's port or its controller's.
        let sasl_port = std::iter::repeat_with(free_port)
            .find(|p| *p != port && *p != port + 1)
            .unwrap();
        let mut broker = Self::start_with(
            dir,
            port,
            vec![
                ("KAFKA_SASL_PORT", sasl_port.to_string()),
                ("KAFKA_SCRAM_USER", format!("{user}:{password}")),
            ],
        );
        broker.sasl_addr = Some(format!("127.0.0.1:{sasl_port}"));
        broker
    }

    fn start_with(dir: &Path, port: u16, env: Vec<(&'static str, String)>) -> Self {
        let broker = Self {
            addr: format!("127.0.0.1:{port}"),
            sasl_addr: None,
            port,
            env,
            dir: dir.to_owned(),
        };
        broker.script("start");
        broker
    }

    /// Stops the broker (SIGTERM, SIGKILL after 30 s); its data stays.
    pub fn stop(&self) {
        self.script("stop");
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        self.script("start");
    }

    fn script(&self, command: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local/kafka.sh");
        let out = Command::new(script)
            .arg(command)
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_STATE_DIR", &self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kafka.sh {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The event-rule alerts in a JSON-lines alert file (none while it does not exist).
pub fn file_event_alerts(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(is_event_alert)
        .collect()
}

/// Polls the alert `file` until an alert names `event_id`; returns the file's event
/// alerts then.
pub fn wait_for_file_alert(gw: &mut Grantwatch, file: &Path, event_id: &str) -> Vec<Value> {
    let what = format!("an alert for {event_id} in {}", file.display());
    wait_for_alert_naming(gw, Duration::from_secs(90), &what, event_id, || {
        file_event_alerts(file)
    })
}

/// A running `grantwatch run`.
pub struct Grantwatch {
    pub child: Child,
    log: PathBuf,
}

impl Grantwatch {
    /// Starts `run` with `config`. Its static-membership id stands for the config
    /// file, as the host name does for a real deployment: a restart with the same
    /// file is the same member, and instances started from different files at once
    /// are different members (on one host, the default id would fence one of them).
    pub fn start(config: &Path) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        config.hash(&mut hasher);
        Self::start_as(config, &format!("test-{:016x}", hasher.finish()))
    }

    /// Starts `run` with `config` as the group member `instance_id`.
    pub fn start_as(config: &Path, instance_id: &str) -> Self {
        let dir = config.parent().unwrap();
        let log = dir.join(format!("grantwatch-{}.log", unique("log")));
        let child = Command::new(env!("CARGO_BIN_EXE_grantwatch"))
            .args(["run", "--config"])
            .arg(config)
            .current_dir(dir)
            .env("GRANTWATCH__KAFKA__INSTANCE_ID", instance_id)
            .env("GRANTWATCH_LOG", "info,librdkafka=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// The address `/metrics` is served on, from the startup log (port 0 in configs).
    pub fn metrics_addr(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(addr) = self.log().lines().find_map(|l| {
                let rest = l.split("listen=").nth(1)?;
                Some(rest.split_whitespace().next()?.to_owned())
            }) {
                return addr;
            }
            assert!(
                Instant::now() < deadline,
                "no metrics address in log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`-HUP`, `-TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The process's peak resident set (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    /// SIGKILL: no draining, no commit, no state flush.
    pub fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "grantwatch exited with {status}:\n{}",
                    self.log()
                );
                return self.log();
            }
            assert!(
                Instant::now() < deadline,
                "grantwatch did not stop within 30 s:\n{}\n{}",
                self.log(),
                stacks(self.child.id())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Every thread's stack of a hung process, where gdb is installed: what it waits on.
fn stacks(pid: u32) -> String {
    Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_else(|error| format!("(no stacks: gdb: {error})"))
}

impl Drop for Grantwatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion with `args`; returns (exit code, stderr).
pub fn run_to_exit(args: &[&str], dir: &Path) -> (i32, String) {
    let (code, _, stderr) = run_for_output(args, dir);
    (code, stderr)
}

/// Runs the binary to completion with `args`; returns (exit code, stdout, stderr).
pub fn run_for_output(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_grantwatch"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `grantwatch replay` with `args` and `--alerts-out` in `dir`, checks it exited
/// 0 with `summary` on stderr, and returns the alerts it wrote.
pub fn replay_alerts(args: &[&str], dir: &Path, summary: &str) -> Vec<Value> {
    let out = dir.join("alerts.jsonl");
    let mut all = vec!["replay"];
    all.extend_from_slice(args);
    all.extend(["--alerts-out", out.to_str().unwrap()]);
    let (code, stderr) = run_to_exit(&all, dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(summary), "{stderr}");
    read_jsonl(&out)
}

/// The Python with duckdb and pyarrow that `deploy/local/python.sh` prepared
/// (`GRANTWATCH_TEST_PYTHON`), else `python3`.
pub fn python() -> String {
    std::env::var("GRANTWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A plain HTTP/1.0 GET: (status, body).
pub fn http_get(addr: &str, path: &str, accept: Option<&str>) -> (u16, String) {
    let accept = accept.map(|a| format!("Accept: {a}"));
    http_request(addr, "GET", path, accept.as_slice())
}

/// A plain HTTP/1.0 request with an empty body and the given header lines:
/// (status, body).
pub fn http_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[impl AsRef<str>],
) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let headers: String = headers
        .iter()
        .map(|h| format!("{}\r\n", h.as_ref()))
        .collect();
    write!(
        stream,
        "{method} {target} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n{headers}\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// A free port whose next port is free too: a private broker's controller listens on
/// KAFKA_PORT+1.
pub fn free_port_pair() -> u16 {
    std::iter::repeat_with(free_port)
        .find(|&p| p < u16::MAX && bindable(p + 1))
        .unwrap()
}

/// A loopback port free now, for a server the test starts (or starts again) later.
///
/// Drawn below the kernel's ephemeral range: the outgoing connections of the tests
/// running beside this one take their local ports from that range, and one holding
/// the port makes the server's bind fail ("Address already in use", reproduced by
/// hand): the likeliest reason a private broker restarted after an outage once
/// exited during start in CI, whose broker log was empty then.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    const FLOOR: u64 = 10_000;
    let ceiling = ephemeral_floor().saturating_sub(1);
    if ceiling <= FLOOR + 2 {
        return ephemeral_port();
    }
    std::iter::repeat_with(|| {
        // A fresh RandomState is randomly keyed: a random number without a crate.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        u16::try_from(FLOOR + random % (ceiling - FLOOR)).unwrap()
    })
    .find(|&p| bindable(p))
    .unwrap()
}

/// The lowest port the kernel hands out for outgoing connections.
fn ephemeral_floor() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

fn ephemeral_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}
