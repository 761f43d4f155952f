//! Settings of the live stream (`[live]`, `INBOX__LIVE__*`): socket limits, replay bounds,
//! presence and viewer timings, and how long a caller's visibility is trusted.

use std::time::Duration;

use inbox_config::{SettingsError, in_range};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct LiveSettings {
    /// Sockets one person (or key) may hold open on one gateway replica; more are refused (429).
    pub max_sockets_per_user: usize,
    /// Largest frame a client may send (presence, viewing); a larger one closes the socket.
    pub max_client_frame_bytes: usize,
    /// Frames a socket may fall behind the tenant's live stream before it catches up from the
    /// EVENTS stream (or is told to resync).
    pub socket_queue_frames: usize,
    /// How far back (in EVENTS stream sequences) `?after=` may reach; further back is `resync`.
    pub replay_limit: u64,
    /// Recent frames kept in memory per tenant, so a reconnect wave replays without the stream.
    pub replay_memory_frames: usize,
    /// Seconds between pings on an idle socket.
    pub ping_seconds: u64,
    /// A socket that sent nothing (not even a pong) for this long is closed.
    pub idle_timeout_seconds: u64,
    /// After a person's last socket closes, how long a reconnect keeps them online.
    pub presence_grace_seconds: u64,
    /// How long a replica's claim that a person is connected lasts without a refresh (so a
    /// crashed replica's people go offline by themselves).
    pub presence_ttl_seconds: u64,
    /// How long routing holds an availability the gateway set (refreshed while connected).
    pub availability_hold_seconds: u64,
    /// At most one availability frame per person per this many milliseconds (the latest wins).
    pub availability_interval_ms: u64,
    /// How long a "viewing" mark lasts without a refresh from its socket.
    pub viewer_ttl_seconds: u64,
    /// How long a caller's visibility (the tenant's setting, the agent's teams) is trusted.
    pub visibility_cache_seconds: u64,
}

impl LiveSettings {
    /// Refuses, naming the variable, values that would make sockets useless or unbounded.
    pub fn validate(&self) -> Result<(), SettingsError> {
        in_range("live.max_sockets_per_user", self.max_sockets_per_user, 1..=100_000)?;
        in_range("live.max_client_frame_bytes", self.max_client_frame_bytes, 256..=1 << 20)?;
        in_range("live.socket_queue_frames", self.socket_queue_frames, 16..=65_536)?;
        in_range("live.replay_limit", self.replay_limit, 1..=10_000_000)?;
        in_range("live.replay_memory_frames", self.replay_memory_frames, 0..=100_000)?;
        in_range("live.ping_seconds", self.ping_seconds, 1..=300)?;
        in_range("live.idle_timeout_seconds", self.idle_timeout_seconds, 2..=3600)?;
        in_range("live.presence_grace_seconds", self.presence_grace_seconds, 0..=3600)?;
        in_range("live.presence_ttl_seconds", self.presence_ttl_seconds, 3..=3600)?;
        in_range("live.availability_hold_seconds", self.availability_hold_seconds, 60..=86_400)?;
        in_range("live.availability_interval_ms", self.availability_interval_ms, 0..=60_000)?;
        in_range("live.viewer_ttl_seconds", self.viewer_ttl_seconds, 3..=3600)?;
        in_range("live.visibility_cache_seconds", self.visibility_cache_seconds, 0..=300)
    }

    pub fn ping(&self) -> Duration {
        Duration::from_secs(self.ping_seconds)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds)
    }

    pub fn presence_grace(&self) -> Duration {
        Duration::from_secs(self.presence_grace_seconds)
    }

    pub fn presence_ttl(&self) -> Duration {
        Duration::from_secs(self.presence_ttl_seconds)
    }

    pub fn availability_hold(&self) -> Duration {
        Duration::from_secs(self.availability_hold_seconds)
    }

    pub fn availability_interval(&self) -> Duration {
        Duration::from_millis(self.availability_interval_ms)
    }

    pub fn viewer_ttl(&self) -> Duration {
        Duration::from_secs(self.viewer_ttl_seconds)
    }

    pub fn visibility_cache(&self) -> Duration {
        Duration::from_secs(self.visibility_cache_seconds)
    }
}
