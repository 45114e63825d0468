//! The review console in a real browser: Debian's chromium driven over WebDriver
//! (chromedriver) against `grantwatch console` over an archive seeded by `replay`,
//! with hostile text from the logs in actions, user agents and reasons.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::*;

/// What a hostile partner puts in its actions and headers.
const SCRIPT: &str = "<script>document.title='pwned'</script>";
const IMG: &str = "\"><img src=x onerror=\"document.title='pwned'\">";
const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `grantwatch console` with `args`, once it serves on `addr`.
fn console(dir: &Path, addr: &str, args: &[&str]) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_grantwatch"))
        .arg("console")
        .args(["--listen", addr])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("console-{}.log", unique("c")))).unwrap())
        .spawn()
        .unwrap();
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the console did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    running
}

/// The scenario's events and the hostile ones, replayed into an archive; returns
/// the config that names it and the grants.
fn seeded(dir: &Path) -> PathBuf {
    let recent = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let long = "A".repeat(5000);
    let hostile = [
        json!({"ts": recent, "event_id": "xss-action", "credential_id": "cli_acme_payouts_prod",
               "action": format!("POST /v1/{SCRIPT}"), "environment": "prod", "user_agent": IMG}),
        json!({"ts": recent, "event_id": "formula", "credential_id": "cli_acme_payouts_prod",
               "action": FORMULA, "environment": "prod", "user_agent": long}),
    ];
    let mut lines = std::fs::read_to_string(fixture("scenario/events.jsonl")).unwrap();
    for event in hostile {
        lines.push_str(&format!("{event}\n"));
    }
    let events = dir.join("events.jsonl");
    std::fs::write(&events, lines).unwrap();
    let grants = fixture("scenario/grants.yaml");
    let config = dir.join("grantwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"{}\"\ngroup_id = \"console\"\ntopics = [\"console\"]\n\
             [grants]\npaths = [\"{}\"]\n[archive]\nurl = \"archive\"\n",
            brokers(),
            grants.display()
        ),
    )
    .unwrap();
    let (status, output) = run_to_exit(
        &[
            "replay",
            "--config",
            config.to_str().unwrap(),
            "--input",
            events.to_str().unwrap(),
            "--archive-out",
            dir.join("archive").to_str().unwrap(),
            "--alerts-out",
            dir.join("alerts.jsonl").to_str().unwrap(),
        ],
        dir,
    );
    assert_eq!(status, 0, "{output}");
    config
}

/// chromedriver on a free port, and a headless chromium session through it.
async fn browser(dir: &Path) -> (Running, Client) {
    let port = free_port();
    let driver = Running(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver)"),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--window-size=1280,1400",
                     format!("--user-data-dir={}", dir.join("chromium").display())],
        }),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ClientBuilder::native()
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(error) => {
                assert!(Instant::now() < deadline, "no browser session: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// chromedriver's browser log (not in W3C WebDriver).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(r#"{"type":"browser"}"#.into()),
        )
    }
}

/// Console errors logged since the last call.
async fn console_errors(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.expect("browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Opens `path`, checks it loaded without console errors and that no hostile text
/// ran, saves a screenshot, and returns the page's text.
async fn visit(client: &Client, base: &str, path: &str, shot: &str) -> String {
    client.goto(&format!("{base}{path}")).await.expect("page");
    checked(client, shot).await
}

/// The checks of [`visit`] on the page the browser shows now.
async fn checked(client: &Client, shot: &str) -> String {
    let title = client.title().await.expect("title");
    assert!(
        title.ends_with(" · grantwatch"),
        "title {title:?}: a hostile script ran?"
    );
    let errors = console_errors(client).await;
    assert!(errors.is_empty(), "{shot}: console errors {errors:?}");
    let images = client.find_all(Locator::Css("img")).await.expect("img");
    assert!(
        images.is_empty(),
        "{shot}: an <img> from the logs became markup"
    );
    let scripts = client
        .find_all(Locator::Css("script"))
        .await
        .expect("script");
    assert!(scripts.is_empty(), "{shot}: a <script> is in the page");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(shots.join(format!("{shot}.png")), png).unwrap();
    client
        .find(Locator::Css("body"))
        .await
        .expect("body")
        .text()
        .await
        .expect("text")
}

/// Waits until the browser has navigated to a URL containing `part` (a click on a
/// link or a submit returns before the next page has loaded).
async fn arrived(client: &Client, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = client.current_url().await.expect("url");
        if url.as_str().contains(part) {
            client
                .wait()
                .for_element(Locator::Css("main h1"))
                .await
                .expect("the page loaded");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never reached a URL with {part}: {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

#[test]
fn the_console_in_a_real_browser_shows_every_page_and_keeps_hostile_text_inert() {
    let dir = tempfile::tempdir().unwrap();
    let config = seeded(dir.path());
    let addr = format!("127.0.0.1:{}", free_port());
    let _console = console(dir.path(), &addr, &["--config", config.to_str().unwrap()]);
    let base = format!("http://{addr}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (_driver, client) = browser(dir.path()).await;

        let overview = visit(&client, &base, "/", "overview").await;
        for heading in [
            "Alerts per day",
            "drifting most",
            "idle grants",
            "expiring within",
            "without an owner",
        ] {
            assert!(
                overview.contains(heading),
                "overview lacks {heading}:\n{overview}"
            );
        }

        // The list, its filters in the URL, and the links from a row onwards.
        let list = visit(&client, &base, "/alerts?since=2026-01-01", "alerts").await;
        assert!(list.contains("out_of_purpose_action"), "{list}");
        assert!(list.contains(SCRIPT), "the hostile action is shown as text");
        client
            .find(Locator::Css("select[name=severity]"))
            .await
            .expect("severity")
            .select_by_value("high")
            .await
            .expect("select");
        click(&client, "form.filters button[type=submit]").await;
        arrived(&client, "severity=high").await;
        checked(&client, "alerts-high").await;
        let severities = client
            .find_all(Locator::Css("tbody tr td:nth-child(2)"))
            .await
            .expect("cells");
        assert!(!severities.is_empty());
        for cell in severities {
            assert_eq!(cell.text().await.expect("text"), "high");
        }
        // The hostile alert: the reason names the script as text.
        let q = url::form_urlencoded::byte_serialize(b"<script>").collect::<String>();
        visit(
            &client,
            &base,
            &format!("/alerts?since=2026-01-01&q={q}"),
            "alerts-search",
        )
        .await;
        click(&client, "tbody tr td:first-child a").await;
        arrived(&client, "/alerts/").await;
        let alert = checked(&client, "alert").await;
        for part in [
            "Why:",
            "Scope by scope",
            "Evidence",
            "Count over time",
            "Suppress it",
            "expires_at",
        ] {
            assert!(alert.contains(part), "alert page lacks {part}:\n{alert}");
        }
        assert!(
            alert.contains(SCRIPT) && alert.contains(IMG),
            "hostile text shown as text"
        );
        click(&client, "section.card h3 a").await;
        arrived(&client, "/grants/").await;
        let grant = checked(&client, "grant").await;
        for part in [
            "Scopes in the window",
            "outside the grant",
            "Drift over time",
            "Changes",
            "Least-privilege proposal",
            "Expires in",
        ] {
            assert!(grant.contains(part), "grant page lacks {part}:\n{grant}");
        }
        click(&client, "section.card dd a").await;
        arrived(&client, "/owners/").await;
        let owner = checked(&client, "owner").await;
        assert!(
            owner.contains("Owner jane.doe@bank.example") && owner.contains("Open alerts"),
            "{owner}"
        );

        let reports = visit(&client, &base, "/reports", "reports").await;
        assert!(reports.contains("expiring_soon"), "{reports}");
        click(&client, "a[href='/reports/expiring_soon']").await;
        arrived(&client, "/reports/expiring_soon").await;
        let field = client
            .find(Locator::Css("input[name=within_days]"))
            .await
            .expect("param");
        field.send_keys("400").await.expect("type");
        click(&client, "form.filters button[type=submit]").await;
        arrived(&client, "within_days=400").await;
        let report = checked(&client, "report").await;
        assert!(report.contains("rows."), "{report}");

        for (path, says) in [
            (
                "/alerts/no-such-alert",
                "No alert `no-such-alert` in the archive.",
            ),
            (
                "/grants/no-such-grant",
                "No grant `no-such-grant` in force.",
            ),
            (
                "/owners/nobody",
                "No grant in force names `nobody` as its owner.",
            ),
            (
                "/reports/no-such-report",
                "No report named `no-such-report`.",
            ),
        ] {
            client.goto(&format!("{base}{path}")).await.expect("page");
            let text = client
                .find(Locator::Css("main"))
                .await
                .expect("main")
                .text()
                .await
                .expect("text");
            assert!(text.contains(says), "{path}: {text}");
            // The 404 itself is the one console error such a page has.
            console_errors(&client).await;
        }
        client.close().await.expect("close");
        let response = reqwest::get(format!("{base}/")).await.expect("get");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .to_owned();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
    });

    // Outside the browser: the security headers, and CSV cells that would be formulas.
    let (status, page) = http_get(&addr, "/alerts?since=2026-01-01", None);
    assert_eq!(status, 200);
    assert!(!page.contains(SCRIPT) && page.contains("&lt;script&gt;"));
    let (status, csv) = http_get(&addr, "/alerts.csv?since=2026-01-01", None);
    assert_eq!(status, 200);
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(
        !csv.lines().any(|l| l.starts_with('=') || l.contains(",=")),
        "{csv}"
    );
}

#[test]
fn the_console_says_what_is_missing_and_refuses_to_listen_openly() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let _console = console(dir.path(), &addr, &["--archive", "no-such-archive"]);
    let (status, page) = http_get(&addr, "/", None);
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("holds nothing"), "{page}");
    let (status, _) = http_get(&addr, "/reports", None);
    assert_eq!(status, 200, "still serving");
    let (status, output) = run_to_exit(&["console", "--listen", "0.0.0.0:0"], dir.path());
    assert_eq!(status, 2);
    assert!(output.contains("without authentication"), "{output}");
}
