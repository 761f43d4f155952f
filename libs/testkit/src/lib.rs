//! Real servers for tests, isolated per test:
//! - PostgreSQL: a fresh database per test on the server named by `INBOX_TEST_POSTGRES_URL`
//!   (default `postgres://postgres@127.0.0.1:5432`); when none is reachable a private cluster is
//!   started once per machine from the installed PostgreSQL binaries.
//! - NATS: a private `nats-server -js` per test, on a free port with its own store directory.
//! - Redis: the server named by `INBOX_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) with a
//!   key prefix of the test's own; when none is reachable, a private `redis-server` per test.
//! - TLS: a certificate authority and a server certificate for 127.0.0.1 (`openssl`).

mod certificates;
mod nats;
mod postgres;
mod process;
mod redis_server;
pub mod service;

pub use certificates::{ServerProcess, TestCertificates, make_certificates};
pub use nats::TestNats;
pub use postgres::TestDatabase;
pub use process::{free_port, wait_until};
pub use redis_server::TestRedis;

/// A server the tests start (NATS, Redis) keeps the real time when the tests run under
/// libfaketime (`just test-a-year-ahead`), as the machine's own PostgreSQL does: the clock
/// being moved is the services', and redis-server does not come up with it shifted.
pub fn real_clock(mut command: std::process::Command) -> std::process::Command {
    command.env_remove("LD_PRELOAD").env_remove("FAKETIME").env_remove("FAKETIME_DONT_FAKE_MONOTONIC");
    command
}

/// A short unique name for this test's resources (database names, key prefixes).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple().to_string().get(..12).unwrap_or("x"))
}
