//! The API contract, over the built binaries: the gateway's OpenAPI document
//! (`GET /v1/openapi.json`) is valid OpenAPI 3.1, and the running gateway answers as it says.
//! A seeded tenant (an admin, agents, a team, a WhatsApp number with conversations, a web chat
//! widget, a template) is driven from the document by schemathesis (tests/openapi/conformance.py,
//! in a virtualenv made from tests/openapi/requirements.txt under the target directory): every
//! answer of every operation must be a documented status with a documented content type and
//! match its schema, and none may be a 5xx. Destructive calls are welcome: the fleet is the
//! test's own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use inbox_e2e::graph::{FakeGraph, GRAPH_VERSION};
use inbox_e2e::support::{PHONE_NUMBER_ID, conversation_with, customer_writes, inboxctl, send_json, set_up_tenant};
use inbox_e2e::{Fleet, bin_dir};
use inbox_testkit::free_port;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Generated cases per operation and phase: keeps the run near three minutes on two cores.
const MAX_EXAMPLES: u32 = 40;

const REQUIREMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/requirements.txt");
const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/conformance.py");

/// A person of the tenant: their user id and token.
fn person(fleet: &Fleet, tenant: &str, email: &str, name: &str, role: &str) -> anyhow::Result<(String, String)> {
    let created =
        inboxctl(fleet, &["agent", "create", "--tenant", tenant, "--email", email, "--name", name, "--role", role])?;
    Ok((
        created["user"]["id"].as_str().context("user id")?.to_owned(),
        created["token"].as_str().context("token")?.to_owned(),
    ))
}

/// The Python of a virtualenv holding the pinned requirements, made once per version of the
/// requirements file under the target directory.
fn python_with_requirements() -> anyhow::Result<PathBuf> {
    let requirements = std::fs::read(REQUIREMENTS)?;
    let digest = hex::encode(&Sha256::digest(&requirements)[..6]);
    let venv = bin_dir()?.join(format!("openapi-venv-{digest}"));
    let python = venv.join("bin").join("python");
    let ready = venv.join("ready");
    if ready.exists() {
        return Ok(python);
    }
    let run = |program: &Path, args: &[&str]| -> anyhow::Result<()> {
        let status = std::process::Command::new(program).args(args).status()?;
        anyhow::ensure!(status.success(), "{} {args:?} failed: {status}", program.display());
        Ok(())
    };
    let venv_text = venv.to_str().context("target path is not UTF-8")?;
    run(Path::new("python3"), &["-m", "venv", "--clear", venv_text])
        .context("python3 -m venv failed (Debian: apt-get install python3-venv)")?;
    run(&python, &["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r", REQUIREMENTS])?;
    std::fs::write(&ready, &requirements)?;
    Ok(python)
}

/// The fleet with every service told where the others it calls are (the shared fleet does not
/// pass metrics', notification's and search's addresses yet), so no operation fails for want of
/// a service: the gRPC ports are chosen here. WhatsApp's Graph API (media, sends) is a local fake.
async fn wired_fleet() -> anyhow::Result<(Fleet, FakeGraph)> {
    let graph = FakeGraph::start().await?;
    let port = |_| free_port();
    let [conversation, routing, metrics, notification, search] = [0; 5].map(port);
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let addr = |port: u16| format!("127.0.0.1:{port}");
    let fleet = Fleet::start_with(&[
        ("conversation", "INBOX__GRPC__ADDR", addr(conversation)),
        ("routing", "INBOX__GRPC__ADDR", addr(routing)),
        ("metrics", "INBOX__GRPC__ADDR", addr(metrics)),
        ("notification", "INBOX__GRPC__ADDR", addr(notification)),
        ("search", "INBOX__GRPC__ADDR", addr(search)),
        ("gateway", "INBOX__GATEWAY__CONVERSATION_URL", url(conversation)),
        ("gateway", "INBOX__GATEWAY__ROUTING_URL", url(routing)),
        ("gateway", "INBOX__GATEWAY__METRICS_URL", url(metrics)),
        ("gateway", "INBOX__GATEWAY__NOTIFICATION_URL", url(notification)),
        ("gateway", "INBOX__GATEWAY__SEARCH_URL", url(search)),
        // The generated run makes thousands of requests a minute with one person's token; the
        // budgets themselves are tested in services/gateway/tests/public_edge.rs.
        ("gateway", "INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_USER", "1000000".to_owned()),
        ("routing", "INBOX__ROUTING__CONVERSATION_URL", url(conversation)),
        ("metrics", "INBOX__METRICS__CONVERSATION_URL", url(conversation)),
        ("notification", "INBOX__NOTIFICATION__ROUTING_URL", url(routing)),
        ("search", "INBOX__SEARCH__CONVERSATION_URL", url(conversation)),
        ("search", "INBOX__SEARCH__ROUTING_URL", url(routing)),
        ("channel-ingest", "INBOX__WHATSAPP__GRAPH_BASE_URL", graph.base_url.clone()),
        ("channel-ingest", "INBOX__WHATSAPP__GRAPH_API_VERSION", GRAPH_VERSION.to_owned()),
    ])
    .await?;
    Ok((fleet, graph))
}

#[tokio::test]
async fn the_running_gateway_answers_as_its_openapi_document_says() -> anyhow::Result<()> {
    let python = tokio::task::spawn_blocking(python_with_requirements).await??;
    let (fleet, _graph) = wired_fleet().await?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");

    let tenant = set_up_tenant(&fleet, "contract", PHONE_NUMBER_ID)?;
    let (_, admin) = person(&fleet, &tenant.id, "ada@acme.test", "Ada", "admin")?;
    let (agent_id, _) = person(&fleet, &tenant.id, "paul@acme.test", "Paul", "agent")?;
    let (_, sign_out_token) = person(&fleet, &tenant.id, "sam@acme.test", "Sam", "agent")?;
    let team = inboxctl(&fleet, &["team", "create", "--tenant", &tenant.id, "--name", "Support"])?;
    let team_id = team["id"].as_str().context("team id")?.to_owned();
    inboxctl(&fleet, &["team", "add-member", "--tenant", &tenant.id, "--team", &team_id, "--user", &agent_id])?;
    let widget = inboxctl(
        &fleet,
        &["webchat", "add", "--tenant", &tenant.id, "--name", "Help", "--allowed-origin", "https://shop.test"],
    )?;
    let widget_id = widget["id"].as_str().context("widget id")?.to_owned();
    let (status, template) = send_json(
        &client,
        Method::POST,
        format!("{gateway}/v1/templates"),
        &admin,
        &json!({"name": "greeting", "body": "Hello {{customer_name}}, {{agent_name}} here."}),
    )
    .await?;
    anyhow::ensure!(status == 201, "template: {status} {template}");
    for (i, (from, text)) in
        [("16505550101", "Where is my order?"), ("16505550102", "Refund please"), ("16505550103", "Hello")]
            .into_iter()
            .enumerate()
    {
        customer_writes(&client, &fleet, &format!("wamid.contract.{i}"), from, text).await?;
    }
    let conversation = conversation_with(&client, &fleet, &admin, "16505550101").await?;
    for address in ["16505550102", "16505550103"] {
        conversation_with(&client, &fleet, &admin, address).await?;
    }

    // Kept under the target directory for whoever reads a failure.
    let reports = bin_dir()?.join("openapi-report");
    let _ = std::fs::remove_dir_all(&reports);
    std::fs::create_dir_all(&reports)?;
    let seed = json!({
        "base_url": gateway,
        "token": admin,
        "sign_out_token": sign_out_token,
        "ids": {
            "tenant": tenant.id,
            "agent": agent_id,
            "team": team_id,
            "conversation": conversation["id"],
            "customer": conversation["contact"]["id"],
            "template": template["id"],
            "widget": widget_id,
        },
        "max_examples": MAX_EXAMPLES,
        // One worker: Python 3.11 can fail parsing in two threads at once (hypothesis' lambda
        // descriptions), and one is fast enough.
        "workers": 1,
        "seed": 14,
        "report_dir": reports,
    });
    let seed_file = reports.join("seed.json");
    std::fs::write(&seed_file, serde_json::to_vec(&seed)?)?;

    let started = Instant::now();
    let status = tokio::process::Command::new(&python).arg(DRIVER).arg(&seed_file).status().await?;
    let took = started.elapsed();
    println!("conformance run: {status} after {} s", took.as_secs());
    if !status.success() {
        anyhow::bail!(
            "the gateway and its OpenAPI document disagree ({status}; schemathesis' reports in {}); gateway log \
             tail:\n{}",
            reports.display(),
            fleet.log_tail("gateway"),
        );
    }
    anyhow::ensure!(took < Duration::from_secs(600), "the run took {} s", took.as_secs());
    Ok(())
}
