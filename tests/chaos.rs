//! The short chaos run of `just test` (issue 21): the fleet as processes (channel-ingest ×2,
//! conversation ×2) on private PostgreSQL, NATS and Redis, a few thousand messages through the
//! public edges while the conversation service, channel-ingest and the gateway are killed
//! (kill -9) and NATS restarts. Nothing accepted may be lost, doubled or stored out of provider
//! order; each agent socket, resuming with `?after=`, sees every message once; every agent
//! reply reaches the provider once; search finds what was stored and metrics count it.
//! `just chaos` runs the full schedule in release.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use inbox_load::chaos::{ChaosOptions, chaos, short_schedule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_while_services_crash_and_nats_restarts() -> anyhow::Result<()> {
    let work = tempfile::Builder::new().prefix("inbox-chaos-").tempdir_in("/var/tmp")?;
    // PostgreSQL runs as user postgres when the tests run as root.
    std::process::Command::new("chmod").arg("0755").arg(work.path()).status()?;
    let report = chaos(ChaosOptions {
        work: work.path().to_path_buf(),
        bin_dir: inbox_e2e::bin_dir()?,
        rate: 80.0,
        schedule: short_schedule(),
        gap: Duration::from_secs(5),
        cluster: false,
        isolate: None,
        settle: Duration::from_secs(60),
    })
    .await?;
    println!("{}", report.table);
    assert!(report.sent >= 2_000, "a few thousand messages: {}", report.sent);
    assert_eq!(report.accepted, report.sent, "providers retry until accepted");
    assert_eq!((report.lost, report.doubled, report.out_of_order), (0, 0, 0), "the store");
    assert_eq!((report.socket_missing, report.socket_doubled), (0, 0), "the agents' sockets");
    assert_eq!((report.replies_lost, report.replies_doubled), (0, 0), "replies at the provider");
    // A reply whose send was cut by the kill of channel-ingest is failed in plain sight, never
    // sent twice: at most the one in flight when it died.
    assert!(report.replies_failed_visibly <= 1, "replies failed by the crash: {}", report.replies_failed_visibly);
    assert_eq!(report.search_misses, 0, "search finds every sampled message");
    assert!(report.metrics_agree, "metrics count what the store holds");
    Ok(())
}
