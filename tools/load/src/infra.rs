//! The servers the fleet stands on, private to one run: PostgreSQL, NATS with JetStream (one
//! server, or a three-node cluster with each node in its own network namespace) and Redis,
//! each under the run's work directory on its own free port, so that restarting them breaks
//! nobody else's work on a shared machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::proc::{kill, pid_alive};

/// A TCP port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `host:port` accepts a connection.
pub async fn wait_for_port(host: &str, port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect((host, port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listens on {host}:{port} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn find_binary(name: &str, extra_dirs: &[&str]) -> anyhow::Result<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path.split(':').chain(extra_dirs.iter().copied()).chain(["/usr/sbin", "/usr/local/bin", "/usr/bin"]);
    dirs.map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found: run scripts/bootstrap.sh (or apt-get install it)"))
}

/// PostgreSQL's binaries: the newest under /usr/lib/postgresql, else on the PATH.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").is_file()).collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    if let Some(dir) = versions.pop() {
        return Ok(dir);
    }
    let initdb = find_binary("initdb", &[])?;
    Ok(initdb.parent().context("initdb has no directory")?.to_path_buf())
}

/// A private PostgreSQL cluster (fsync on, as in production).
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    pub port: u16,
    /// The address it listens on besides loopback (a namespace's gateway), if any.
    extra_listen: Option<String>,
}

impl Postgres {
    pub async fn start(work: &Path, extra_listen: Option<String>) -> anyhow::Result<Postgres> {
        let bin = postgres_bin_dir()?;
        let base = work.join("postgres");
        std::fs::create_dir_all(&base)?;
        let pg = Postgres {
            bin,
            data: base.join("data"),
            socket_dir: base.join("socket"),
            log: work.join("logs").join("postgres.log"),
            port: free_port()?,
            extra_listen,
        };
        std::fs::create_dir_all(&pg.socket_dir)?;
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:"]).arg(&base))?;
            std::fs::write(&pg.log, "")?;
            run(Command::new("chown").arg("postgres:").arg(&pg.log))?;
        }
        let mut initdb = pg.as_owner(&pg.bin.join("initdb"));
        initdb.arg("-D").arg(&pg.data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"]);
        run(&mut initdb).context("initdb")?;
        if let Some(address) = &pg.extra_listen {
            // initdb trusts loopback only: a process in the namespace behind `address` (its
            // link's /24) is let in too, or it never gets past authentication.
            let subnet = address.rsplit_once('.').map_or_else(|| address.clone(), |(net, _)| format!("{net}.0/24"));
            let mut hba = std::fs::OpenOptions::new().append(true).open(pg.data.join("pg_hba.conf"))?;
            std::io::Write::write_all(&mut hba, format!("host all all {subnet} trust\n").as_bytes())?;
        }
        pg.start_server().await?;
        Ok(pg)
    }

    fn as_owner(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// The URL services in a network namespace use.
    pub fn url_via(&self, host: &str) -> String {
        format!("postgres://postgres@{host}:{}", self.port)
    }

    async fn start_server(&self) -> anyhow::Result<()> {
        let listen = match &self.extra_listen {
            Some(extra) => format!("127.0.0.1,{extra}"),
            None => "127.0.0.1".into(),
        };
        let options = format!(
            "-c listen_addresses='{listen}' -c port={} -c unix_socket_directories='{}' -c max_connections=400 \
             -c shared_buffers=256MB -c fsync=on -c log_min_messages=warning \
             -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all",
            self.port,
            self.socket_dir.display()
        );
        let mut start = self.as_owner(&self.bin.join("pg_ctl"));
        start.arg("-D").arg(&self.data).arg("-l").arg(&self.log).args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut start).context("pg_ctl start")?;
        wait_for_port("127.0.0.1", self.port, Duration::from_secs(30)).await
    }

    /// Stops it as a power cut would (`immediate`: no checkpoint, crash recovery on start).
    pub fn crash(&self) -> anyhow::Result<()> {
        let mut stop = self.as_owner(&self.bin.join("pg_ctl"));
        stop.arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "-t", "60", "stop"]);
        run(&mut stop).context("pg_ctl stop")
    }

    pub async fn restart(&self) -> anyhow::Result<()> {
        self.start_server().await
    }

    /// The postmaster's pid (its backends are its children).
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
    }

    pub fn stop(&self) {
        let mut stop = self.as_owner(&self.bin.join("pg_ctl"));
        stop.arg("-D").arg(&self.data).args(["-m", "fast", "-w", "-t", "30", "stop"]);
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// One nats-server process; in a cluster, one node of three.
pub struct NatsNode {
    pub name: String,
    /// Where clients reach it.
    pub host: String,
    pub port: u16,
    args: Vec<String>,
    /// Run inside this network namespace.
    netns: Option<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl NatsNode {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = find_binary("nats-server", &[])?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        command.args(&self.args).stdin(Stdio::null()).stdout(Stdio::from(log.try_clone()?)).stderr(Stdio::from(log));
        self.child = Some(command.spawn().context("cannot start nats-server")?);
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.host, self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// kill -9.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill()?;
        self.spawn()?;
        wait_for_port(&self.host, self.port, Duration::from_secs(30)).await
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for NatsNode {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// NATS with JetStream: one server, or a three-node cluster.
pub struct Nats {
    pub nodes: Vec<NatsNode>,
    pub netns: Option<crate::netns::Namespaces>,
}

impl Nats {
    /// One server listening on `bind` (loopback, or a namespace link's host end so that
    /// processes inside the namespace reach it too).
    pub async fn single(work: &Path, bind: &str) -> anyhow::Result<Nats> {
        let port = free_port()?;
        let store = work.join("nats");
        std::fs::create_dir_all(&store)?;
        let mut node = NatsNode {
            name: "nats".into(),
            host: bind.into(),
            port,
            args: vec![
                "-a".into(),
                bind.into(),
                "-p".into(),
                port.to_string(),
                "-js".into(),
                "-sd".into(),
                store.display().to_string(),
                "-n".into(),
                "inbox-load".into(),
            ],
            netns: None,
            log: work.join("logs").join("nats.log"),
            child: None,
        };
        node.spawn()?;
        wait_for_port(bind, port, Duration::from_secs(30)).await?;
        Ok(Nats { nodes: vec![node], netns: None })
    }

    /// Three nodes, `n1..n3`, each in its own network namespace, routes between them over
    /// their veth links; clients reach them at `10.<net>.<i>.2:4222`.
    pub async fn cluster(work: &Path, namespaces: crate::netns::Namespaces) -> anyhow::Result<Nats> {
        let (client_port, cluster_port) = (4222u16, 6222u16);
        let routes: Vec<String> =
            namespaces.members.iter().map(|m| format!("nats-route://{}:{cluster_port}", m.inner_ip)).collect();
        let mut nodes = Vec::new();
        for (i, member) in namespaces.members.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = work.join(format!("nats-{name}"));
            std::fs::create_dir_all(&store)?;
            let config = work.join(format!("nats-{name}.conf"));
            std::fs::write(
                &config,
                format!(
                    "server_name: {name}\nlisten: {ip}:{client_port}\njetstream {{ store_dir: \"{store}\" }}\n\
                     cluster {{ name: inbox-load\n listen: {ip}:{cluster_port}\n routes: [{routes}] }}\n",
                    ip = member.inner_ip,
                    store = store.display(),
                    routes = routes.join(", "),
                ),
            )?;
            let mut node = NatsNode {
                name,
                host: member.inner_ip.clone(),
                port: client_port,
                args: vec!["-c".into(), config.display().to_string()],
                netns: Some(member.name.clone()),
                log: work.join("logs").join(format!("nats-n{}.log", i + 1)),
                child: None,
            };
            node.spawn()?;
            nodes.push(node);
        }
        for node in &nodes {
            wait_for_port(&node.host, node.port, Duration::from_secs(30)).await?;
        }
        Ok(Nats { nodes, netns: Some(namespaces) })
    }

    /// The URL of the first node. A client connected to one node of the cluster learns the
    /// others from it and fails over to them; it cannot be given a list (`libs/bus` parses one
    /// URL: `nats://a:4222,nats://b:4222` is refused as an invalid port).
    pub fn url(&self) -> String {
        self.url_for(0)
    }

    /// Node `n % nodes`'s URL: processes are spread over the nodes.
    pub fn url_for(&self, n: usize) -> String {
        self.nodes[n % self.nodes.len()].url()
    }

    pub async fn restart_all(&mut self) -> anyhow::Result<()> {
        for node in &mut self.nodes {
            node.restart().await?;
        }
        Ok(())
    }
}

/// A private Redis, in memory.
pub struct Redis {
    pub port: u16,
    bind: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Redis {
    pub async fn start(work: &Path, extra_bind: Option<&str>) -> anyhow::Result<Redis> {
        let mut redis = Redis {
            port: free_port()?,
            bind: match extra_bind {
                Some(extra) => format!("127.0.0.1 {extra}"),
                None => "127.0.0.1".into(),
            },
            log: work.join("logs").join("redis.log"),
            child: None,
        };
        redis.spawn()?;
        wait_for_port("127.0.0.1", redis.port, Duration::from_secs(30)).await?;
        Ok(redis)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = find_binary("redis-server", &[])?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(bin);
        command.args(["--port", &self.port.to_string(), "--save", "", "--appendonly", "no", "--protected-mode", "no"]);
        command.arg("--bind");
        command.args(self.bind.split(' '));
        command.stdin(Stdio::null()).stdout(Stdio::from(log.try_clone()?)).stderr(Stdio::from(log));
        self.child = Some(command.spawn().context("cannot start redis-server")?);
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn url_via(&self, host: &str) -> String {
        format!("redis://{host}:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.pid()
            && pid_alive(pid)
        {
            kill("-KILL", pid)?;
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        self.spawn()?;
        wait_for_port("127.0.0.1", self.port, Duration::from_secs(30)).await
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
