//! Redis for a test: the shared server with a key prefix of its own, or a private server.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::process::{find_binary, free_port, host_port, tcp_reachable};

pub struct TestRedis {
    url: String,
    key_prefix: String,
    child: Option<std::process::Child>,
}

impl TestRedis {
    pub async fn start() -> anyhow::Result<Self> {
        let key_prefix = format!("{}:", crate::unique_name("test"));
        let shared = std::env::var("INBOX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        if host_port(&shared).is_some_and(|hp| tcp_reachable(&hp)) {
            return Ok(Self { url: shared, key_prefix, child: None });
        }
        let binary = find_binary("redis-server")
            .ok_or_else(|| anyhow!("no Redis at {shared} and redis-server not found: apt-get install redis-server"))?;
        let port = free_port();
        let child = std::process::Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start redis-server")?;
        let addr = format!("127.0.0.1:{port}");
        let redis = Self { url: format!("redis://{addr}"), key_prefix, child: Some(child) };
        crate::wait_until(Duration::from_secs(10), || {
            let addr = addr.clone();
            async move { tcp_reachable(&addr).then_some(()) }
        })
        .await
        .ok_or_else(|| anyhow!("redis-server on port {port} did not come up"))?;
        Ok(redis)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every key this test writes starts with this prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
