//! What every service process needs, in one place: the ops HTTP endpoints (`/healthz`,
//! `/readyz`, and `/metrics` on the admin listener) and readiness, gRPC hosting with `grpc.health.v1`, reflection and
//! service-to-service authentication, PostgreSQL set-up (create the database, migrate), and
//! graceful shutdown.

pub mod callers;
pub mod clock;
pub mod grpc;
pub mod http_edge;
pub mod http_listener;
pub mod ledger;
pub mod ops;
pub mod outbox;
pub mod postgres;
pub mod role;
pub mod shutdown;
pub mod startup;
pub mod trace_context;
pub mod visibility;

pub use clock::Clock;
pub use grpc::{CallContext, Role};
pub use ops::{Readiness, ReadinessCheck};
pub use shutdown::shutdown_on_signal;
pub use startup::{Connected, Needs, RunError, connect};
pub use visibility::Visibility;

use tokio::net::TcpListener;

/// Declares mimalloc the process's allocator; written once in each binary that hosts services
/// (a library must not choose for the tests and tools that link it). On the webhook path
/// glibc's malloc (with `malloc_consolidate` after each burst of frees) cost about a fifth of
/// channel-ingest's CPU, and `just bench webhook` accepted 13,000–16,000/s instead of
/// 10,000–13,000/s with it.
#[macro_export]
macro_rules! use_mimalloc {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::MiMalloc = $crate::MiMalloc;
    };
}

#[doc(hidden)]
pub use mimalloc::MiMalloc;

/// Sockets a service serves on, bound by the caller so tests can use port 0.
pub struct Listeners {
    /// The public HTTP listener.
    pub http: TcpListener,
    pub grpc: TcpListener,
    /// The admin HTTP listener: `/metrics` and the detailed `/readyz`.
    pub admin: TcpListener,
}

impl Listeners {
    pub async fn bind(http_addr: &str, grpc_addr: &str, admin_addr: &str) -> std::io::Result<Self> {
        Ok(Self {
            http: TcpListener::bind(http_addr).await?,
            grpc: TcpListener::bind(grpc_addr).await?,
            admin: TcpListener::bind(admin_addr).await?,
        })
    }

    /// All on 127.0.0.1 with ports chosen by the OS.
    pub async fn ephemeral() -> std::io::Result<Self> {
        Self::bind("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0").await
    }
}

/// Retries `attempt` with capped exponential backoff until it succeeds or `shutdown` fires
/// (then `None`). Used at start-up so a service comes up before its dependencies do.
pub async fn retry_until_ready<T, E, F, Fut>(
    what: &str,
    shutdown: &tokio_util::sync::CancellationToken,
    mut attempt: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => {
                tracing::warn!(dependency = what, error = %e, retry_in_ms = delay.as_millis() as u64, "dependency not ready")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

/// The settings every service has; implemented by each service's `Settings`.
pub trait ServiceSettings: serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static {
    /// Service name, as in `inbox-<name>` and in logs and traces.
    const NAME: &'static str;
    /// Built-in defaults (TOML), overridden by the file named in `INBOX_CONFIG_FILE` and by
    /// `INBOX__SECTION__KEY` variables.
    const DEFAULTS: &'static str;
    fn log(&self) -> &inbox_config::LogSettings;
    /// The HTTP listener's address and limits (checked at start with the rest).
    fn http(&self) -> &inbox_config::HttpSettings;
    fn grpc_addr(&self) -> &str;
    /// Refuses settings the service cannot start with, naming the variable to fix.
    fn validate(&self) -> Result<(), inbox_config::SettingsError>;
}

/// The body of every service's `main`: load and validate settings, start telemetry, bind,
/// run until SIGTERM, flush telemetry. Returns the process exit code.
pub async fn service_main<S, F, Fut, E>(run: F) -> std::process::ExitCode
where
    S: ServiceSettings,
    F: FnOnce(S, Listeners, tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let settings = match inbox_config::load_from_process::<S>(S::DEFAULTS)
        .and_then(|s| s.http().validate().and_then(|()| s.validate()).map(|()| s))
    {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("inbox-{}: {e}", S::NAME);
            return std::process::ExitCode::from(2);
        }
    };
    let telemetry = match inbox_telemetry::init(S::NAME, settings.log()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("inbox-{}: {e}", S::NAME);
            return std::process::ExitCode::from(2);
        }
    };
    tracing::info!(settings = ?settings, "starting");
    let listeners = match Listeners::bind(&settings.http().addr, settings.grpc_addr(), &settings.http().admin_addr)
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, http = settings.http().addr, admin = settings.http().admin_addr, grpc = settings.grpc_addr(), "cannot bind");
            telemetry.shutdown().await;
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = run(settings, listeners, shutdown_on_signal()).await;
    let code = match outcome {
        Ok(()) => {
            tracing::info!("stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "service failed");
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}
