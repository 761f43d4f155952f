//! Tickets: what a browser puts in a URL where it cannot send the `Authorization` header (the
//! live stream's WebSocket, a media link in `<img src>`), instead of its access token. A URL
//! ends up in proxy logs, browser history and `Referer`s; a ticket found there is worthless: it
//! is random (`tk_` and 256 bits, base64url), lives seconds (`gateway.ticket_ttl_seconds`,
//! 30 by default), opens one request, and names its holder only through Redis, where it is
//! kept by its SHA-256 and taken with `GETDEL` — so it is used once even across replicas.
//!
//! A ticket is asked for with the header credential (`POST /v1/auth/ticket`) and stands for
//! the same principal; whether that principal may still act is judged again when it is used.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inbox_service::Role;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{KeyScope, Principal};

/// How every ticket begins, so a ticket is told from a token or a key at a glance.
pub const TICKET_PREFIX: &str = "tk_";

/// How long Redis is given to store or take a ticket.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// A new ticket: `tk_` and 32 random bytes, base64url without padding.
pub fn new_ticket() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret))
}

/// Whether `text` has a ticket's form (43 base64url characters after `tk_`).
pub fn looks_like_ticket(text: &str) -> bool {
    text.strip_prefix(TICKET_PREFIX).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whom a ticket was issued to, as Redis keeps it.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Holder {
    User { tenant_id: Uuid, user_id: Uuid, role: String, session_id: Option<Uuid> },
    Key { tenant_id: Uuid, key_id: Uuid, scope: String },
}

impl Holder {
    /// `None` for the operator, who opens no stream and no media and needs no ticket.
    fn of(principal: &Principal) -> Option<Holder> {
        match principal {
            Principal::User { tenant_id, user_id, role, session_id } => Some(Holder::User {
                tenant_id: *tenant_id,
                user_id: *user_id,
                role: role.as_str().to_owned(),
                session_id: *session_id,
            }),
            Principal::Key { tenant_id, key_id, scope } => {
                Some(Holder::Key { tenant_id: *tenant_id, key_id: *key_id, scope: scope.as_str().to_owned() })
            }
            Principal::Operator => None,
        }
    }

    fn principal(self) -> Option<Principal> {
        match self {
            Holder::User { tenant_id, user_id, role, session_id } => {
                Some(Principal::User { tenant_id, user_id, role: role.parse::<Role>().ok()?, session_id })
            }
            Holder::Key { tenant_id, key_id, scope } => {
                Some(Principal::Key { tenant_id, key_id, scope: KeyScope::from_name(&scope)? })
            }
        }
    }
}

/// What can go wrong with a ticket besides its not being there.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("the operator needs no ticket")]
    Operator,
    #[error("ticket store failure: {0}")]
    Store(#[from] redis::RedisError),
    #[error("ticket store did not answer in time")]
    Timeout,
    #[error("unreadable ticket record: {0}")]
    Record(#[from] serde_json::Error),
}

/// Tickets in Redis. Cheap to clone.
#[derive(Clone)]
pub struct Tickets {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl Tickets {
    pub fn new(redis: redis::aio::ConnectionManager, key_prefix: &str, ttl: Duration) -> Self {
        Self { redis, prefix: format!("{key_prefix}ticket:"), ttl }
    }

    /// The Redis key of a ticket: its SHA-256, so Redis never holds a usable ticket.
    fn key(&self, ticket: &str) -> String {
        format!("{}{}", self.prefix, hex::encode(Sha256::digest(ticket.as_bytes())))
    }

    /// A new ticket for `principal`, and how many seconds it lives.
    pub async fn issue(&self, principal: &Principal) -> Result<(String, u64), TicketError> {
        let holder = Holder::of(principal).ok_or(TicketError::Operator)?;
        let ticket = new_ticket();
        let mut redis = self.redis.clone();
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut store = redis::cmd("SET");
        store.arg(self.key(&ticket)).arg(serde_json::to_string(&holder)?).arg("PX").arg(ttl_ms);
        let stored = store.query_async::<()>(&mut redis);
        tokio::time::timeout(REDIS_TIMEOUT, stored).await.map_err(|_| TicketError::Timeout)??;
        Ok((ticket, self.ttl.as_secs()))
    }

    /// The principal `ticket` was issued to, taking it (a second use finds nothing); `None`
    /// for a ticket unknown, used or expired.
    pub async fn redeem(&self, ticket: &str) -> Result<Option<Principal>, TicketError> {
        let mut redis = self.redis.clone();
        let mut take = redis::cmd("GETDEL");
        take.arg(self.key(ticket));
        let taken = take.query_async::<Option<String>>(&mut redis);
        let record = tokio::time::timeout(REDIS_TIMEOUT, taken).await.map_err(|_| TicketError::Timeout)??;
        match record {
            Some(record) => Ok(serde_json::from_str::<Holder>(&record)?.principal()),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_tk_and_256_random_bits_and_never_twice_the_same() {
        let (one, two) = (new_ticket(), new_ticket());
        assert!(looks_like_ticket(&one), "{one}");
        assert_eq!(one.len(), 3 + 43);
        assert_ne!(one, two);
    }

    #[test]
    fn tokens_and_keys_do_not_look_like_tickets() {
        assert!(!looks_like_ticket("eyJhbGciOiJIUzI1NiJ9.e30.x"));
        assert!(!looks_like_ticket("ik_0190d7b0-0000-7000-8000-000000000000_secret"));
        assert!(!looks_like_ticket("tk_short"));
        assert!(!looks_like_ticket(&format!("tk_{}", "a".repeat(42) + "%")));
    }

    #[test]
    fn a_ticket_stands_for_the_same_user_or_key_and_never_the_operator() {
        let user = Principal::User {
            tenant_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            role: Role::Supervisor,
            session_id: Some(Uuid::new_v4()),
        };
        let key = Principal::Key { tenant_id: Uuid::new_v4(), key_id: Uuid::new_v4(), scope: KeyScope::AiAgent };
        for principal in [user, key] {
            let stored = serde_json::to_string(&Holder::of(&principal).unwrap()).unwrap();
            let back: Holder = serde_json::from_str(&stored).unwrap();
            assert_eq!(back.principal(), Some(principal));
        }
        assert_eq!(Holder::of(&Principal::Operator), None);
    }
}
