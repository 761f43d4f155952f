//! The images of `just images` run: built, loaded into a Docker engine, checked (non-root user,
//! no shell, small), and the seven services started from them (host network, read-only root,
//! no capabilities) against a private NATS, fresh databases and Redis, until every `/readyz`
//! answers 200.
//!
//! Costly (a release build and an engine), so it runs only with `INBOX_TEST_DOCKER=1`; it then
//! uses a Docker engine that answers, or installs Debian's `docker.io` and starts `dockerd`
//! itself (and stops it after). Without the variable, or where no engine can run, it says so
//! and skips. `INBOX_TEST_IMAGES_BIN_DIR` reuses release binaries instead of building them.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, free_port, wait_until};

const SERVICES: [&str; 7] =
    ["gateway", "channel-ingest", "conversation", "routing", "notification", "search", "metrics"];
const TAG: &str = "e2e";

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker").args(args).output().context("docker")?;
    if !out.status.success() {
        bail!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn engine_answers() -> bool {
    Command::new("docker").arg("info").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A Docker engine: one that answers, or `dockerd` started here (returned, to be stopped).
fn ensure_engine(log: &std::path::Path) -> Result<Option<Child>, String> {
    if engine_answers() {
        return Ok(None);
    }
    let has_dockerd = Command::new("sh").args(["-c", "command -v dockerd || test -x /usr/sbin/dockerd"]).status();
    if !has_dockerd.is_ok_and(|s| s.success()) {
        let installed = Command::new("apt-get")
            .args(["install", "-y", "-q", "docker.io"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status();
        if !installed.is_ok_and(|s| s.success()) {
            return Err("docker.io could not be installed (apt-get install docker.io failed)".into());
        }
    }
    let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let dockerd = Command::new("/usr/sbin/dockerd")
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("dockerd could not be started: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut dockerd = dockerd;
    while Instant::now() < deadline {
        if engine_answers() {
            return Ok(Some(dockerd));
        }
        if let Ok(Some(status)) = dockerd.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("dockerd exited ({status}): {}", tail.lines().last().unwrap_or_default()));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = dockerd.kill();
    let _ = dockerd.wait();
    Err("dockerd started but never answered within 60 s".into())
}

/// Containers started by the test, removed at the end whatever happens.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            if std::thread::panicking() {
                eprintln!("---- {name} ----\n{}", docker(&["logs", "--tail", "20", name]).unwrap_or_default());
            }
            let _ =
                Command::new("docker").args(["rm", "-f", name]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_images_run_the_fleet_with_every_health_check_green() -> anyhow::Result<()> {
    if std::env::var("INBOX_TEST_DOCKER").as_deref() != Ok("1") {
        eprintln!(
            "SKIPPED: the image test builds release binaries and needs a Docker engine; run it with INBOX_TEST_DOCKER=1"
        );
        return Ok(());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("repository root")?.to_path_buf();
    let work = tempfile::tempdir()?;
    let mut dockerd = match ensure_engine(&work.path().join("dockerd.log")) {
        Ok(dockerd) => dockerd,
        Err(why) => {
            eprintln!("SKIPPED: no Docker engine can run here: {why}");
            return Ok(());
        }
    };
    let result = run_fleet_from_images(&root, work.path()).await;
    if let Some(dockerd) = dockerd.as_mut() {
        let _ = Command::new("kill").args(["-TERM", &dockerd.id().to_string()]).status();
        let _ = dockerd.wait();
    }
    result
}

async fn run_fleet_from_images(root: &std::path::Path, work: &std::path::Path) -> anyhow::Result<()> {
    let mut images = Command::new("bash");
    images
        .arg(root.join("scripts/images.sh"))
        .current_dir(root)
        .env("INBOX_IMAGES_TAG", TAG)
        .env("INBOX_IMAGES_LOAD", "1")
        .env("INBOX_IMAGES_OUT", work.join("images"));
    if let Ok(bins) = std::env::var("INBOX_TEST_IMAGES_BIN_DIR") {
        images.env("INBOX_IMAGES_BIN_DIR", bins);
    }
    let status = images.status().context("scripts/images.sh")?;
    anyhow::ensure!(status.success(), "scripts/images.sh failed");

    // What the images are: non-root, no shell, small.
    for name in SERVICES.iter().map(|s| format!("inbox-{s}")).chain(["inboxctl".to_owned()]) {
        let image = format!("{name}:{TAG}");
        assert_eq!(docker(&["image", "inspect", &image, "--format", "{{.Config.User}}"])?, "10001:10001", "{image}");
        let size: u64 = docker(&["image", "inspect", &image, "--format", "{{.Size}}"])?.parse()?;
        assert!(size < 150_000_000, "{image} is {size} bytes");
        let shell = Command::new("docker")
            .args(["run", "--rm", "--entrypoint", "/bin/sh", &image, "-c", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        assert!(!shell.success(), "{image} has a shell");
    }
    let version = Command::new("docker")
        .args(["run", "--rm", "--read-only", &format!("inboxctl:{TAG}"), "--version"])
        .output()?;
    assert!(String::from_utf8_lossy(&version.stdout).contains("inboxctl"), "inboxctl runs from its image");

    // The fleet from the images.
    let nats = TestNats::start().await?;
    let redis = TestRedis::start().await?;
    let base = TestDatabase::create("images").await?;
    let databases: HashMap<&str, TestDatabase> =
        SERVICES.iter().filter(|s| **s != "search").map(|s| (*s, base.sibling(s))).collect();
    let ports: HashMap<&str, (u16, u16)> = SERVICES.iter().map(|s| (*s, (free_port(), free_port()))).collect();
    let index = work.join("search-index");
    std::fs::create_dir_all(&index)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o777))?;
    }
    let grpc = |s: &str| format!("http://127.0.0.1:{}", ports[s].1);
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut containers = Containers(Vec::new());
    for name in SERVICES {
        let (http, grpc_port) = ports[name];
        let mut env = vec![
            format!("INBOX__HTTP__ADDR=127.0.0.1:{http}"),
            format!("INBOX__GRPC__ADDR=127.0.0.1:{grpc_port}"),
            "INBOX__HTTP__ADMIN_ADDR=127.0.0.1:0".to_owned(),
            format!("INBOX__NATS__URL={}", nats.url()),
            "INBOX__AUTH__SERVICE_TOKEN=images-service-token-0123456789".to_owned(),
        ];
        if let Some(db) = databases.get(name) {
            env.push(format!("INBOX__POSTGRES__URL={}", db.url()));
            env.push("INBOX__POSTGRES__MAX_CONNECTIONS=4".to_owned());
        }
        match name {
            "gateway" => {
                env.extend([
                    format!("INBOX__REDIS__URL={}", redis.url()),
                    format!("INBOX__REDIS__KEY_PREFIX={}", redis.key_prefix()),
                    "INBOX__GATEWAY__JWT_SECRET=images-jwt-secret-0123456789-0123456789".to_owned(),
                    "INBOX__GATEWAY__OPERATOR_TOKEN=images-operator-token-0123456789".to_owned(),
                ]);
                for (var, callee) in [
                    ("CONVERSATION", "conversation"),
                    ("CHANNEL_INGEST", "channel-ingest"),
                    ("ROUTING", "routing"),
                    ("NOTIFICATION", "notification"),
                    ("SEARCH", "search"),
                    ("METRICS", "metrics"),
                ] {
                    env.push(format!("INBOX__GATEWAY__{var}_URL={}", grpc(callee)));
                }
            }
            "channel-ingest" => env.extend([
                format!("INBOX__REDIS__URL={}", redis.url()),
                format!("INBOX__REDIS__KEY_PREFIX={}ingest:", redis.key_prefix()),
                "INBOX__SECRETS__KEYS=k1:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=".to_owned(),
                "INBOX__SECRETS__ACTIVE_KEY=k1".to_owned(),
            ]),
            "routing" => env.extend([
                format!("INBOX__REDIS__URL={}", redis.url()),
                format!("INBOX__REDIS__KEY_PREFIX={}routing:", redis.key_prefix()),
                format!("INBOX__ROUTING__CONVERSATION_URL={}", grpc("conversation")),
            ]),
            "notification" => env.push(format!("INBOX__NOTIFICATION__ROUTING_URL={}", grpc("routing"))),
            "metrics" => env.push(format!("INBOX__METRICS__CONVERSATION_URL={}", grpc("conversation"))),
            "search" => env.extend([
                format!("INBOX__SEARCH__CONVERSATION_URL={}", grpc("conversation")),
                format!("INBOX__SEARCH__ROUTING_URL={}", grpc("routing")),
            ]),
            _ => {}
        }
        let container = format!("inbox-e2e-{name}-{suffix}");
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &container,
            "--network",
            "host",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if name == "search" {
            args.extend(["-v".to_owned(), format!("{}:/var/lib/inbox/search", index.display())]);
        }
        for e in &env {
            args.extend(["-e".to_owned(), e.clone()]);
        }
        args.push(format!("inbox-{name}:{TAG}"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs)?;
        containers.0.push(container);
    }

    let client = reqwest::Client::new();
    for name in SERVICES {
        let url = format!("http://127.0.0.1:{}/readyz", ports[name].0);
        let ready = wait_until(Duration::from_secs(90), || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let response = client.get(&url).timeout(Duration::from_secs(2)).send().await.ok()?;
                (response.status() == 200).then_some(())
            }
        })
        .await;
        if ready.is_none() {
            let container = format!("inbox-e2e-{name}-{suffix}");
            bail!("inbox-{name} from its image is not ready:\n{}", docker(&["logs", "--tail", "30", &container])?);
        }
        eprintln!("inbox-{name}:{TAG} is ready");
    }
    // The gateway's image serves the web inbox it embeds.
    let page = client.get(format!("http://127.0.0.1:{}/", ports["gateway"].0)).send().await?;
    assert_eq!(page.status(), 200, "the gateway image serves the web inbox");
    assert!(page.text().await?.contains("<div id=\"root\""), "the web inbox's page");
    Ok(())
}
