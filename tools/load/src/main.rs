//! `inbox-load load` / `inbox-load chaos [--cluster] [--short]`: see `docs/operations.md`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use inbox_load::chaos::{ChaosOptions, chaos, cluster_schedule, full_schedule, short_schedule};
use inbox_load::load::{LoadOptions, load};

#[derive(Parser)]
#[command(about = "The whole fleet under load and under faults, measured from outside")]
struct Cli {
    /// Where the service binaries are (target/release).
    #[arg(long, env = "INBOX_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Work directory for the private servers' data and every log (kept after the run).
    #[arg(long, env = "INBOX_LOAD_WORK")]
    work: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The rate ladder, with one replica each then channel-ingest ×2 and conversation ×2, and
    /// 10,000 agent sockets.
    Load {
        /// Offered rates (messages per second), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "500,1000,2000,4000,7000,10000")]
        rates: Vec<f64>,
        /// Seconds of traffic per rate.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        /// WhatsApp keep-alive connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// Steady traffic under a schedule of faults, then the proofs.
    Chaos {
        #[arg(long, default_value_t = 300.0)]
        rate: f64,
        /// NATS as a three-node JetStream cluster, each node in its own network namespace.
        #[arg(long)]
        cluster: bool,
        /// A few faults (the `just test` run).
        #[arg(long)]
        short: bool,
        /// Seconds of calm between faults.
        #[arg(long, default_value_t = 8)]
        gap: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let exe = std::env::current_exe()?;
    let bin_dir = match cli.bin_dir {
        Some(dir) => dir,
        None => exe.parent().context("no directory")?.to_path_buf(),
    };
    let work = cli.work.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "inbox-load-{}-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S"),
            std::process::id()
        ))
    });
    std::fs::create_dir_all(&work)?;
    // PostgreSQL runs as user postgres when we are root: it must reach its directory.
    let _ = std::process::Command::new("chmod").arg("0755").arg(&work).status();
    eprintln!("work directory (data and logs): {}", work.display());
    match cli.command {
        Command::Load { rates, seconds, sockets, connections } => {
            let table = load(LoadOptions { work, bin_dir, rates, seconds, sockets, connections }).await?;
            println!("{table}");
        }
        Command::Chaos { rate, cluster, short, gap } => {
            let schedule = if cluster {
                cluster_schedule()
            } else if short {
                short_schedule()
            } else {
                full_schedule()
            };
            let report = chaos(ChaosOptions {
                work,
                bin_dir,
                rate,
                schedule,
                gap: Duration::from_secs(gap),
                cluster,
                isolate: (!short && !cluster).then_some("conversation"),
                settle: Duration::from_secs(90),
            })
            .await?;
            println!("{}", report.table);
            let clean = report.lost == 0
                && report.doubled == 0
                && report.out_of_order == 0
                && report.socket_missing == 0
                && report.socket_doubled == 0
                && report.replies_lost == 0
                && report.replies_doubled == 0;
            if !clean {
                anyhow::bail!("messages were lost, doubled or out of order (see the table)");
            }
        }
    }
    Ok(())
}
