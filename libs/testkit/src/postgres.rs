//! A fresh PostgreSQL database per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use sqlx::{Connection, Executor, PgConnection};

use crate::process::{host_port, tcp_reachable};

/// Port of the private cluster the testkit starts when no server is reachable.
const PRIVATE_PORT: u16 = 55433;

/// A database of this test's own, dropped (best effort) when the value is dropped.
pub struct TestDatabase {
    server_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database named after `prefix` plus a unique suffix.
    pub async fn create(prefix: &str) -> anyhow::Result<Self> {
        let server_url = server_url().await?;
        let name = crate::unique_name(prefix);
        let mut conn = PgConnection::connect(&format!("{server_url}/postgres"))
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {server_url}"))?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await?;
        Ok(Self { server_url, name })
    }

    /// URL of this database.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server_url, self.name)
    }

    /// Another database on the same server, not created here (a service under test creates
    /// its own), dropped when the returned value is dropped.
    pub fn sibling(&self, suffix: &str) -> TestDatabase {
        TestDatabase {
            server_url: self.server_url.clone(),
            name: format!("{}_{}", self.name, suffix.replace('-', "_")),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let url = format!("{}/postgres", self.server_url);
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop cannot await; a short-lived thread with its own runtime does the work.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
                }
            });
        })
        .join();
    }
}

/// `postgres://user@host:port` of a reachable server, starting a private one if needed.
async fn server_url() -> anyhow::Result<String> {
    let configured =
        std::env::var("INBOX_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let configured = configured.trim_end_matches('/').to_owned();
    if host_port(&configured).is_some_and(|hp| tcp_reachable(&hp)) {
        return Ok(configured);
    }
    let private = format!("postgres://postgres@127.0.0.1:{PRIVATE_PORT}");
    if tcp_reachable(&format!("127.0.0.1:{PRIVATE_PORT}")) {
        return Ok(private);
    }
    tokio::task::spawn_blocking(start_private_cluster).await??;
    Ok(private)
}

/// Starts (once per machine; other test processes wait on a lock) a trust-auth cluster under
/// the temp directory, owned by the `postgres` user when we run as root (initdb refuses root).
fn start_private_cluster() -> anyhow::Result<()> {
    let base = std::env::temp_dir().join("inbox-testkit-postgres");
    std::fs::create_dir_all(&base)?;
    let lock = base.join("lock");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::fs::create_dir(&lock).is_err() {
        if tcp_reachable(&format!("127.0.0.1:{PRIVATE_PORT}")) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "timed out waiting for another test process to start PostgreSQL (remove {} if stale)",
                lock.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = init_and_start(&base);
    let _ = std::fs::remove_dir(&lock);
    result
}

fn init_and_start(base: &Path) -> anyhow::Result<()> {
    let bin = postgres_bin_dir().ok_or_else(|| {
        anyhow!(
            "no PostgreSQL reachable and no PostgreSQL binaries under /usr/lib/postgresql: apt-get install postgresql"
        )
    })?;
    let data = base.join("data");
    let as_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    let run = |program: PathBuf, args: Vec<String>| -> anyhow::Result<()> {
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let status = cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        if !status.success() {
            bail!("{cmd:?} failed: {status}");
        }
        Ok(())
    };
    if as_root {
        Command::new("chown").args(["-R", "postgres:postgres"]).arg(base).status()?;
    }
    if !data.join("PG_VERSION").exists() {
        run(
            bin.join("initdb"),
            vec!["-D".into(), data.display().to_string(), "--auth=trust".into(), "-U".into(), "postgres".into()],
        )?;
    }
    let options =
        format!("-c listen_addresses=127.0.0.1 -c port={PRIVATE_PORT} -c unix_socket_directories={}", base.display());
    run(
        bin.join("pg_ctl"),
        vec![
            "-D".into(),
            data.display().to_string(),
            "-o".into(),
            options,
            "-l".into(),
            base.join("log").display().to_string(),
            "-w".into(),
            "start".into(),
        ],
    )
}

fn postgres_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    versions.sort();
    versions.into_iter().rev().map(|v| v.join("bin")).find(|b| b.join("initdb").is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_test_gets_its_own_empty_database() {
        let a = TestDatabase::create("kit").await.unwrap();
        let b = TestDatabase::create("kit").await.unwrap();
        assert_ne!(a.name(), b.name());
        let mut conn = PgConnection::connect(&a.url()).await.unwrap();
        let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(tables, 0);
    }
}
