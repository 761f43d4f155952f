//! The web inbox in a real headless Chromium against the real fleet: the gateway serves the
//! built app (`web/dist`, `just web`), and the scenarios of `web/e2e/` drive it as an agent
//! would: a WhatsApp message arriving live, a template reply through `/`, taking over from the
//! AI, assigning to a teammate who sees it arrive, status and priority by keyboard, a bulk
//! archive of a filtered selection, a transcript download, the phone-sized layout, a
//! notification arriving live in the bell and its panel, an SLA clock at risk then breached,
//! notification preferences kept by the server, a supervisor's metrics dashboard, the search
//! palette (highlights, syntax errors at their column, phones in any writing), and more.
//! Each scenario keeps its screenshots under `target/web-e2e/<scenario>/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use inbox_e2e::Fleet;
use inbox_e2e::support::{APP_SECRET, PHONE_NUMBER_ID, inboxctl, person_token, set_up_tenant};

/// The scenarios run here, in order (each names what it proves in `web/e2e/scenarios.mjs`).
const SCENARIOS: [&str; 18] = [
    "live-whatsapp",
    "template-reply",
    "take-over",
    "assign-teammate",
    "keyboard-status-priority",
    "bulk-archive",
    "download-transcript",
    "phone-layout",
    "offline-queue",
    "hold-list",
    "template-only-window",
    "url-state",
    "accessibility",
    "notification-live",
    "sla-warning",
    "notification-preferences",
    "metrics-dashboard",
    "search-palette",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_owned()
}

#[tokio::test]
async fn an_agent_works_the_inbox_in_a_real_browser() -> anyhow::Result<()> {
    let web = workspace().join("web");
    anyhow::ensure!(
        web.join("dist/index.html").is_file() && web.join("node_modules/playwright-core").is_dir(),
        "the web inbox is not built: run `just web` (npm ci && npm run build in web/) first"
    );
    // No Graph API to ask in the tests: numbers are connected without Meta's confirmation.
    let fleet = Fleet::start_with(&[("channel-ingest", "INBOX__WHATSAPP__VERIFY_NUMBERS", "false".to_owned())]).await?;
    let tenant = set_up_tenant(&fleet, "webinbox", PHONE_NUMBER_ID)?;
    let admin = person_token(&fleet, &tenant.id, "ada@acme.test", "Ada Admin", "admin")?;
    let teammate = person_token(&fleet, &tenant.id, "tom@acme.test", "Tom Teammate", "agent")?;
    let ai = person_token(&fleet, &tenant.id, "ai@acme.test", "Acme Assistant", "ai")?;
    let supervisor = person_token(&fleet, &tenant.id, "sam@acme.test", "Sam Supervisor", "supervisor")?;
    let support =
        inboxctl(&fleet, &["team", "create", "--tenant", &tenant.id, "--name", "Support", "--policy", "least_loaded"])?;
    let _ = support["id"].as_str().context("team id")?;

    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("web-e2e");
    std::fs::create_dir_all(&shots)?;
    let gateway = fleet.http_url("gateway");
    let ingest = fleet.http_url("channel-ingest");
    // INBOX_WEB_SCENARIOS=a,b runs only those (while working on them); the default is all.
    let only = std::env::var("INBOX_WEB_SCENARIOS").unwrap_or_default();
    let scenarios: Vec<&str> =
        SCENARIOS.into_iter().filter(|s| only.is_empty() || only.split(',').any(|o| o == *s)).collect();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("e2e/run.mjs")
            .args(scenarios)
            .current_dir(&web)
            .env("INBOX_WEB_URL", &gateway)
            .env("INBOX_GATEWAY_URL", &gateway)
            .env("INBOX_AGENT_TOKEN", &admin)
            .env("INBOX_TEAMMATE_TOKEN", &teammate)
            .env("INBOX_SUPERVISOR_TOKEN", &supervisor)
            .env("INBOX_AI_TOKEN", &ai)
            .env("INBOX_INGEST_URL", &ingest)
            .env("INBOX_WHATSAPP_APP_SECRET", APP_SECRET)
            .env("INBOX_WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
            .env("INBOX_SCREENSHOTS", &shots)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .output()
    });
    let output = run.await??;
    drop(fleet);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert!(output.status.success(), "the browser scenarios failed (screenshots in target/web-e2e)");
    Ok(())
}
