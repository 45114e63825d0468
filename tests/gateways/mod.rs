//! A real NGINX (Debian's, installed by `deploy/local/test.sh`) writing its access log
//! in the format the `nginx` preset documents, read back by `grantwatch replay`.
//!
//! NGINX has no JSON log format of its own, so no documentation holds a record of
//! one: the format is the preset's, and this test keeps the preset honest about what
//! NGINX writes with it (escaping, empty variables, times).

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// The `log_format` directive the preset's comment documents, as the user copies it.
fn documented_log_format() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let preset =
        std::fs::read_to_string(root.join("src/decode/mapped/presets/nginx.toml")).unwrap();
    let lines: Vec<&str> = preset
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .skip_while(|l| !l.starts_with("log_format"))
        .collect();
    let end = lines.iter().position(|l| l.ends_with("';")).unwrap();
    lines[..=end].join(" ")
}

/// Polls `done` for up to 20 s; panics with `what` and NGINX's error log.
fn poll(what: &str, mut done: impl FnMut() -> bool, dir: &Path) {
    for _ in 0..80 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let errors = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("{what}: not within 20 s; nginx's error log:\n{errors}");
}

struct Nginx {
    child: Child,
    addr: String,
}

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("htpasswd"),
            "billing-reader:{PLAIN}not-the-one-sent\n",
        )
        .unwrap();
        let conf = format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               {format}\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 access_log {d}/access.log partners;\n\
                 location /v1/payments/ {{ if ($request_method = POST) {{ return 201; }} return 200; }}\n\
                 location /v1/invoices {{ auth_basic partners; auth_basic_user_file {d}/htpasswd; try_files /no-such-file =200; }}\n\
               }}\n\
             }}\n",
            format = documented_log_format(),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        // Debian puts it in /usr/sbin, which a user's PATH may lack.
        let program = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nginx");
        let child = Command::new(program)
            .args(["-e", &format!("{d}/error.log"), "-p"])
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx (apt-get install nginx)");
        let addr = format!("127.0.0.1:{port}");
        poll("nginx listening", || TcpStream::connect(&addr).is_ok(), dir);
        Nginx { child, addr }
    }

    /// One request with the given extra header lines; the status NGINX gave.
    fn request(&self, method: &str, target: &str, headers: &[&str]) -> u16 {
        http_request(&self.addr, method, target, headers).0
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One grant that lets `partner-acme` read payments, and nothing else; also the
/// replay tests' gateway grant.
pub const GRANTS: &str = r#"
- id: acme-payments-read
  partner: acme
  owner: payments-risk@bank.example
  approved_by: third-party-risk-board
  approved_at: 2026-11-01
  purpose: Read payment status for reconciliation
  credentials: [partner-acme]
  valid_from: 2020-01-01T00:00:00Z
  expires_at: 2100-01-01T00:00:00Z
  scopes:
    - action: "GET /v1/payments/*"
"#;

#[test]
fn nginx_writes_in_the_documented_format_what_the_nginx_preset_reads() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(dir.path());
    let acme = ["X-Client-Id: partner-acme", "User-Agent: acme-sync/2.3"];
    assert_eq!(nginx.request("GET", "/v1/payments/p_8812", &acme), 200);
    assert_eq!(
        nginx.request("POST", "/v1/payments/p_8812/refunds?dry_run=false", &acme),
        201
    );
    // Basic auth with a password NGINX refuses: logged with the user, denied.
    let basic = "Authorization: Basic YmlsbGluZy1iYXRjaDp3cm9uZw=="; // billing-batch:wrong
    assert_eq!(
        nginx.request("GET", "/v1/invoices", &[basic, "User-Agent: curl/8.5.0"]),
        401
    );
    // A hostile header is escaped by NGINX's `escape=json`, not broken out of.
    let hostile = [
        "X-Client-Id: partner-acme\",\"client_id\":\"someone-else",
        "User-Agent: <script>",
    ];
    assert_eq!(nginx.request("GET", "/v1/payments/p_1", &hostile), 200);

    let log = dir.path().join("access.log");
    let four_lines = || std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 4);
    poll("four access-log lines", four_lines, dir.path());
    std::fs::write(dir.path().join("grants.yaml"), GRANTS).unwrap();
    let args = [
        "--preset",
        "nginx",
        "--input",
        log.to_str().unwrap(),
        "--grants",
        "grants.yaml",
    ];
    let alerts = replay_alerts(
        &args,
        dir.path(),
        "replayed 4 events from 1 files (0 out of partner scope, 0 records rejected)",
    );
    let found: BTreeSet<(&str, &str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap(),
                a["credential_id"].as_str().unwrap(),
                a["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        found.contains(&(
            "out_of_purpose_action",
            "partner-acme",
            "POST /v1/payments/{id}/refunds"
        )),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(rule, credential, _)| *rule == "unknown_credential"
                && *credential == "billing-batch"),
        "{found:?}"
    );
    // The injected header stayed one credential id, which no grant binds.
    let injected = "partner-acme\",\"client_id\":\"someone-else";
    assert!(
        found
            .iter()
            .any(|(_, credential, _)| *credential == injected),
        "{found:?}"
    );
    // The in-purpose read raised nothing.
    assert!(
        !found
            .iter()
            .any(|(_, credential, action)| *credential == "partner-acme"
                && *action == "GET /v1/payments/{id}"),
        "{found:?}"
    );
    if let Ok(keep) = std::env::var("GRANTWATCH_KEEP_NGINX_LOG") {
        std::fs::copy(&log, keep).unwrap();
    }
}
