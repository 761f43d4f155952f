//! Socket tickets: a browser cannot set headers on a WebSocket, so the visitor's socket URL
//! carries a ticket instead of their long-lived bearer token (URLs end up in proxies' access
//! logs). A ticket is issued over an authenticated POST, lives `TICKET_TTL`, opens one socket
//! and is gone; Redis holds only its SHA-256, shared by every replica.

use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a ticket can wait to be used.
pub const TICKET_TTL_SECS: u64 = 60;

pub struct SocketTickets {
    redis: ConnectionManager,
    prefix: String,
}

impl SocketTickets {
    pub fn new(redis: ConnectionManager, prefix: String) -> Self {
        Self { redis, prefix }
    }

    fn key(&self, ticket: &str) -> String {
        format!("{}webchat:ticket:{}", self.prefix, hex::encode(Sha256::digest(ticket.as_bytes())))
    }

    /// A new ticket for the visitor `visitor_id` of widget `account_id`.
    pub async fn issue(&self, account_id: Uuid, visitor_id: Uuid) -> Result<String, redis::RedisError> {
        let ticket = format!("st_{}", hex::encode(rand::random::<[u8; 24]>()));
        let mut redis = self.redis.clone();
        let () = redis::cmd("SET")
            .arg(self.key(&ticket))
            .arg(format!("{account_id}:{visitor_id}"))
            .arg("EX")
            .arg(TICKET_TTL_SECS)
            .query_async(&mut redis)
            .await?;
        Ok(ticket)
    }

    /// Uses up `ticket`: the visitor it was issued to, if it was issued for widget
    /// `account_id`, is unexpired and was not used before.
    pub async fn redeem(&self, account_id: Uuid, ticket: &str) -> Result<Option<Uuid>, redis::RedisError> {
        if ticket.is_empty() || ticket.len() > 100 {
            return Ok(None);
        }
        let mut redis = self.redis.clone();
        let held: Option<String> = redis::cmd("GETDEL").arg(self.key(ticket)).query_async(&mut redis).await?;
        Ok(held.and_then(|value| {
            let (account, visitor) = value.split_once(':')?;
            (account == account_id.to_string()).then(|| visitor.parse().ok()).flatten()
        }))
    }
}
