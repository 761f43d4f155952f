//! `inbox-ai-agent`: the reference AI agent of the inbox. It uses only the public API, with an
//! API key of scope `ai_agent` (`inboxctl api-key create --scope ai_agent`): the live stream to
//! hear customers, REST to read conversations and to answer. Its rules are in `brain.rs`.
//!
//! ```sh
//! INBOX_AI_API_KEY=ik_... inbox-ai-agent --gateway http://127.0.0.1:8080
//! ```

mod agent;
mod brain;

use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "inbox-ai-agent",
    version,
    about = "A rules-based AI agent that answers customers first and hands off when unsure"
)]
struct Cli {
    /// The gateway's base URL.
    #[arg(long, env = "INBOX_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// An API key of scope ai_agent.
    #[arg(long, env = "INBOX_AI_API_KEY", hide_env_values = true)]
    api_key: String,
    /// How long the AI takes before it answers, in milliseconds (it reads, then types).
    #[arg(long, default_value_t = 1500)]
    reply_delay_ms: u64,
    /// The tenant's confidence threshold (for the log only: the conversation service decides).
    #[arg(long, default_value_t = 0.6)]
    threshold: f32,
    /// After a reconnection, customers who wrote within this many minutes are answered.
    #[arg(long, default_value_t = 15)]
    catch_up_minutes: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("INBOX_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let agent = agent::Agent::new(agent::Settings {
        gateway: cli.gateway.trim_end_matches('/').to_owned(),
        api_key: cli.api_key,
        reply_delay: Duration::from_millis(cli.reply_delay_ms),
        threshold: cli.threshold,
        catch_up_window: chrono::Duration::minutes(cli.catch_up_minutes),
    })?;
    tokio::select! {
        result = agent.run() => result,
        _ = shutdown() => {
            tracing::info!("stopping");
            Ok(())
        }
    }
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
