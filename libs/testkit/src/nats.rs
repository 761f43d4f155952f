//! A private NATS JetStream server per test.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::process::find_binary;

/// A `nats-server -js` of this test's own; killed when dropped.
pub struct TestNats {
    child: std::process::Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl TestNats {
    /// Starts a JetStream server on a free port and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_config(None).await
    }

    /// Like [`start`](Self::start), reading `config` (nats-server's configuration format, e.g.
    /// an `authorization` block of users) as well; the listen address and the store stay the
    /// test's own. The server must admit connections without credentials (`no_auth_user`),
    /// which is how this waits for it.
    pub async fn start_with_config(config: Option<&str>) -> anyhow::Result<Self> {
        let binary = std::env::var_os("INBOX_TEST_NATS_SERVER")
            .map(Into::into)
            .or_else(|| find_binary("nats-server"))
            .ok_or_else(|| {
                anyhow!("nats-server not found: install it (apt-get install nats-server) or set INBOX_TEST_NATS_SERVER")
            })?;
        let store = tempfile::tempdir()?;
        let mut command = crate::real_clock(std::process::Command::new(binary));
        if let Some(config) = config {
            let path = store.path().join("nats-server.conf");
            std::fs::write(&path, config)?;
            command.arg("-c").arg(path);
        }
        // `-p -1` lets the server pick a free port, reported in its ports file: no races.
        let mut child = command
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(store.path().join("js"))
            .arg("--ports_file_dir")
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nats-server")?;
        let ports_file = store.path().join(format!("nats-server_{}.ports", child.id()));
        let port = crate::wait_until(Duration::from_secs(10), || {
            let ports_file = ports_file.clone();
            async move { read_client_port(&ports_file) }
        })
        .await;
        let Some(port) = port else {
            let _ = child.kill();
            return Err(anyhow!("nats-server did not report its port in {}", ports_file.display()));
        };
        let nats = Self { child, port, _store: store };
        let url = nats.url();
        crate::wait_until(Duration::from_secs(10), || {
            let url = url.clone();
            async move { async_nats::connect(&url).await.ok().map(|_| ()) }
        })
        .await
        .ok_or_else(|| anyhow!("nats-server on port {port} does not accept clients"))?;
        Ok(nats)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client port from a ports file: `{"nats": ["nats://127.0.0.1:PORT"], ...}`.
fn read_client_port(path: &std::path::Path) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    let start = text.find("nats://")? + "nats://".len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    rest[..end].rsplit(':').next()?.parse().ok()
}
