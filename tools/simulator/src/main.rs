//! `inbox-simulator`: the living demo of `just up`.
//!
//! 1. Serves the providers' side of the demo's channels and the demo shop page on `--listen`
//!    (point channel-ingest's Graph API and Twilio REST API base URLs at it).
//! 2. Sets up the demo tenant once through the public admin API (operator token), or finds the
//!    one its state file names: people with passwords, teams, WhatsApp, Twilio and web chat
//!    channels, an `ai_agent` API key, saved replies.
//! 3. Seeds a few hundred past conversations through the public edges (once per tenant).
//! 4. Writes `--ready-file` (the state, as JSON) as soon as the tenant can be signed in to,
//!    `--seeded-file` once the history is in, and then, unless `--quiet`, keeps customers and
//!    colleagues busy until stopped.
//!
//! ```sh
//! INBOX_OPERATOR_TOKEN=... inbox-simulator --gateway http://127.0.0.1:8080 \
//!     --ingest http://127.0.0.1:8081 --listen 127.0.0.1:8090 --state .data/demo.json
//! ```

mod api;
mod edges;
mod live;
mod provider;
mod script;
mod seed;
mod setup;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize};

use anyhow::Context;
use clap::Parser;
use rand::SeedableRng;

#[derive(Parser)]
#[command(
    name = "inbox-simulator",
    version,
    about = "The living demo: a seeded tenant, simulated customers and colleagues"
)]
struct Cli {
    /// The gateway's base URL (REST API).
    #[arg(long, env = "INBOX_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// channel-ingest's base URL (webhooks, web chat visitor API).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    ingest: String,
    /// The URL Twilio is told channel-ingest is at (INBOX__TWILIO__PUBLIC_BASE_URL): signatures cover it.
    #[arg(long)]
    twilio_public_base_url: Option<String>,
    /// Where to serve the providers' APIs and the demo shop page.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// The operator's token (to set up the demo tenant).
    #[arg(long, env = "INBOX_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: String,
    /// The state file: the demo tenant, its people's passwords and channel secrets.
    #[arg(long)]
    state: PathBuf,
    /// Written (the state as JSON) once the demo tenant is set up: it can be signed in to.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Written (the state as JSON) once its history is seeded; simulated people start then.
    #[arg(long)]
    seeded_file: Option<PathBuf>,
    /// Past conversations to seed on a new demo tenant.
    #[arg(long, default_value_t = 260)]
    conversations: u32,
    /// Seed conversations made at once.
    #[arg(long, default_value_t = 32)]
    seed_concurrency: usize,
    /// No simulated customers or colleagues: only the setup, the history and the providers' side.
    #[arg(long)]
    quiet: bool,
    /// Multiplies every delay of the simulated people (1: a human pace; 0.1: ten times faster).
    #[arg(long, env = "INBOX_SIM_PACE", default_value_t = 1.0)]
    pace: f64,
    /// Most simulated customers talking at once.
    #[arg(long, default_value_t = 6)]
    max_active: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("INBOX_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    tokio::select! {
        result = run(cli) => result,
        _ = shutdown() => {
            tracing::info!("stopping");
            Ok(())
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let gateway = api::Gateway::new(&cli.gateway)?;
    let ingest = edges::Ingest::new(&cli.ingest)?;
    let listener =
        tokio::net::TcpListener::bind(&cli.listen).await.with_context(|| format!("cannot listen on {}", cli.listen))?;
    let port = listener.local_addr()?.port();
    let shop_origin = format!("http://127.0.0.1:{port}");
    let origins = vec![shop_origin.clone(), format!("http://localhost:{port}")];
    let provider = provider::Provider::new(ingest.clone());
    let router = provider.router();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the providers' side stopped");
        }
    });
    tracing::info!(listen = cli.listen, "serving the providers' APIs and the demo shop");

    let operator = cli.operator_token.as_str();
    let mut demo = match setup::Demo::load(&cli.state) {
        Some(demo) if setup::still_there(&gateway, operator, &demo).await? => {
            tracing::info!(tenant = demo.tenant_id, "the demo tenant is there");
            setup::allow_origins(&gateway, operator, &demo, &origins).await?;
            demo
        }
        _ => {
            tracing::info!("setting up the demo tenant");
            // The providers' side must know the numbers before channel-ingest asks about them.
            let demo = setup::create(&gateway, operator, &origins).await?;
            demo.save(&cli.state)?;
            demo
        }
    };
    let twilio_public = cli.twilio_public_base_url.clone().unwrap_or_else(|| cli.ingest.clone());
    if let Ok(mut accounts) = provider.accounts.write() {
        accounts.whatsapp = Some(demo.whatsapp());
        accounts.twilio = Some(demo.twilio(&twilio_public));
        accounts.widget_key = Some(demo.widget_key.clone());
    }

    let mut people = Vec::new();
    for (n, person) in demo.people.iter().enumerate() {
        let token = setup::token_of(&gateway, operator, &demo, n).await?;
        let first = person.name.split_whitespace().next().unwrap_or(&person.name).to_owned();
        people.push((person.id.clone(), first, token));
    }

    // The demo can be used from here on: the history fills in while the newcomer signs in.
    if let Some(ready) = &cli.ready_file {
        demo.save(ready)?;
    }

    if demo.seeded == 0 && cli.conversations > 0 {
        let started = std::time::Instant::now();
        let now = chrono::Utc::now();
        let plan = seed::plan(
            now,
            cli.conversations,
            people.len(),
            &mut rand::rngs::StdRng::seed_from_u64(u64::from(demo.run)),
        );
        tracing::info!(plan = seed::describe(&plan), "seeding past conversations");
        let seeder = Arc::new(seed::Seeder {
            gateway: gateway.clone(),
            ingest: ingest.clone(),
            whatsapp: demo.whatsapp(),
            twilio: demo.twilio(&twilio_public),
            widget_key: demo.widget_key.clone(),
            shop_origin: shop_origin.clone(),
            ai_key: demo.ai_api_key.clone(),
            people: people.clone(),
            run: demo.run,
        });
        let made = seeder.run(plan, cli.seed_concurrency).await?;
        demo.seeded = made;
        demo.save(&cli.state)?;
        tracing::info!(made, seconds = started.elapsed().as_secs_f64(), "seeded");
    }

    if let Some(seeded) = &cli.seeded_file {
        demo.save(seeded)?;
    }
    if cli.quiet {
        tracing::info!("quiet: no simulated customers or colleagues");
        std::future::pending::<()>().await;
    }
    let live = Arc::new(live::Live {
        gateway,
        ingest,
        inboxes: provider.inboxes.clone(),
        whatsapp: demo.whatsapp(),
        twilio: demo.twilio(&twilio_public),
        widget_key: demo.widget_key.clone(),
        shop_origin,
        people,
        pace: cli.pace.max(0.01),
        run: demo.run,
        max_active: cli.max_active.max(1),
        // Live customers never reuse the seeded ones' numbers; a restart goes on from a new place.
        next_customer: AtomicU32::new(10_000 + (chrono::Utc::now().timestamp() / 60 % 80_000) as u32),
        active: AtomicUsize::new(0),
    });
    tracing::info!(pace = cli.pace, "simulated customers and colleagues at work");
    live.run().await;
    Ok(())
}

async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
