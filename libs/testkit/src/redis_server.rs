//! Redis for a test: the shared server with a key prefix of its own, or a private server.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::process::{find_binary, free_port, host_port, tcp_reachable};

pub struct TestRedis {
    url: String,
    key_prefix: String,
    child: Option<std::process::Child>,
    _acl_dir: Option<tempfile::TempDir>,
}

impl TestRedis {
    pub async fn start() -> anyhow::Result<Self> {
        let key_prefix = format!("{}:", crate::unique_name("test"));
        let shared = std::env::var("INBOX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        if host_port(&shared).is_some_and(|hp| tcp_reachable(&hp)) {
            return Ok(Self { url: shared, key_prefix, child: None, _acl_dir: None });
        }
        Self::start_private(key_prefix, None).await
    }

    /// A private server of this test's own whose users are the lines `acl` gives for the key
    /// prefix (an aclfile: a default user, then `user <name> ...` lines), with a key prefix like
    /// [`start`](Self::start)'s.
    pub async fn start_with_acl(acl: impl FnOnce(&str) -> String) -> anyhow::Result<Self> {
        let key_prefix = format!("{}:", crate::unique_name("test"));
        let acl = acl(&key_prefix);
        Self::start_private(key_prefix, Some(&acl)).await
    }

    async fn start_private(key_prefix: String, acl: Option<&str>) -> anyhow::Result<Self> {
        let binary = find_binary("redis-server")
            .ok_or_else(|| anyhow!("redis-server not found: apt-get install redis-server"))?;
        let port = free_port();
        let mut command = crate::real_clock(std::process::Command::new(binary));
        command.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"]);
        let acl_dir = match acl {
            Some(acl) => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("users.acl");
                std::fs::write(&path, acl)?;
                command.arg("--aclfile").arg(path);
                Some(dir)
            }
            None => None,
        };
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("cannot start redis-server")?;
        let addr = format!("127.0.0.1:{port}");
        let redis = Self { url: format!("redis://{addr}"), key_prefix, child: Some(child), _acl_dir: acl_dir };
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
