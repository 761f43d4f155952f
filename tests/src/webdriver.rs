//! A real headless Chromium driven over W3C WebDriver (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/bootstrap.sh`). The protocol is plain HTTP and
//! JSON, spoken here with reqwest: no extra crate, nothing to download at build time. If
//! Chromium or chromedriver is missing, starting fails with a message saying so.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use inbox_testkit::{free_port, wait_until};
use serde_json::{Value, json};

/// WebDriver's key for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path).chain([std::path::PathBuf::from("/usr/bin")]) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// chromedriver and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    client: reqwest::Client,
    session: String,
    base: String,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> anyhow::Result<Browser> {
        let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]).context(
            "Chromium is not installed: run scripts/bootstrap.sh (apt-get install chromium chromium-driver)",
        )?;
        let chromedriver = find_program(&["chromedriver"])
            .context("chromedriver is not installed: run scripts/bootstrap.sh (apt-get install chromium-driver)")?;
        let port = free_port();
        // Its own process group, which Chromium and its helpers inherit: dropping the browser
        // kills the group, so no Chromium outlives the test (a session delete alone left them).
        let driver = std::os::unix::process::CommandExt::process_group(&mut Command::new(&chromedriver), 0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", chromedriver.display()))?;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser { driver, client, session: String::new(), base };
        let status = format!("{}/status", browser.base);
        wait_until(Duration::from_secs(20), || {
            let request = browser.client.get(&status).timeout(Duration::from_secs(2));
            async move {
                let body: Value = request.send().await.ok()?.json().await.ok()?;
                (body["value"]["ready"] == true).then_some(())
            }
        })
        .await
        .context("chromedriver did not become ready")?;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1200,900", "--no-first-run", "--lang=fr-FR"],
                "prefs": {"intl.accept_languages": "fr-FR,fr"}
            }
        }}});
        let answer = browser.raw(reqwest::Method::POST, "/session", Some(capabilities)).await?;
        browser.session =
            answer["sessionId"].as_str().with_context(|| format!("no session from chromedriver: {answer}"))?.to_owned();
        Ok(browser)
    }

    async fn raw(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("webdriver {path}: {status} {body}");
        }
        Ok(body["value"].clone())
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        self.raw(method, &format!("/session/{}{path}", self.session), Some(body)).await
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command(reqwest::Method::POST, "/url", json!({"url": url})).await.map(|_| ())
    }

    pub async fn refresh(&self) -> anyhow::Result<()> {
        self.command(reqwest::Method::POST, "/refresh", json!({})).await.map(|_| ())
    }

    async fn element(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .command(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css}))
            .await
            .with_context(|| format!("no element {css}"))?;
        Ok(found[ELEMENT].as_str().context("element reference")?.to_owned())
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.command(reqwest::Method::POST, &format!("/element/{id}/click"), json!({})).await.map(|_| ())
    }

    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.command(reqwest::Method::POST, &format!("/element/{id}/value"), json!({"text": text})).await.map(|_| ())
    }

    /// Runs `script` (a function body; `return` its result) in the page.
    pub async fn script(&self, script: &str) -> anyhow::Result<Value> {
        self.command(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// Polls `script` until it returns something other than null or false; fails after
    /// `deadline` naming `what`.
    pub async fn wait_for(&self, what: &str, deadline: Duration, script: &str) -> anyhow::Result<Value> {
        wait_until(deadline, || async {
            let value = self.script(script).await.ok()?;
            (!value.is_null() && value != Value::Bool(false)).then_some(value)
        })
        .await
        .with_context(|| format!("the page never showed {what}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: ending the session closes Chromium; killing the driver ends the rest.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                let _ = runtime.block_on(reqwest::Client::new().delete(url).timeout(Duration::from_secs(5)).send());
            }
        })
        .join();
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
