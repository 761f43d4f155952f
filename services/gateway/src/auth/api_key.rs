//! API keys for machines: `ik_<id>_<secret>`, where the id names the key's record and the
//! 256-bit secret is kept only as its SHA-256. A key has one scope, which decides the role it
//! acts with and the methods it may use.

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inbox_errors::PublicError;
use inbox_service::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const PREFIX: &str = "ik_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyScope {
    /// Acts as the tenant's AI agent (role `ai`): reads conversations, posts AI replies.
    AiAgent,
    /// An integration with a supervisor's reach.
    Integration,
    /// Reads only: `GET` and `HEAD` (the live WebSocket included), with a supervisor's reach.
    ReadOnly,
}

const SCOPES: [(KeyScope, &str); 3] =
    [(KeyScope::AiAgent, "ai_agent"), (KeyScope::Integration, "integration"), (KeyScope::ReadOnly, "read_only")];

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        SCOPES.iter().find(|(scope, _)| *scope == self).map_or("read_only", |(_, name)| name)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        SCOPES.iter().find(|(_, n)| *n == name).map(|(scope, _)| *scope)
    }

    /// The scope a request body names, or `invalid_argument` listing the names.
    pub fn named(name: &str) -> Result<Self, PublicError> {
        Self::from_name(name)
            .ok_or_else(|| PublicError::invalid_argument("scope must be ai_agent, integration or read_only"))
    }

    /// The role the key acts with inside the fleet.
    pub fn role(self) -> Role {
        match self {
            KeyScope::AiAgent => Role::Ai,
            KeyScope::Integration | KeyScope::ReadOnly => Role::Supervisor,
        }
    }

    /// Whether a request with `method` is within the scope.
    pub fn permits(self, method: &Method) -> bool {
        match self {
            KeyScope::ReadOnly => matches!(*method, Method::GET | Method::HEAD),
            KeyScope::AiAgent | KeyScope::Integration => true,
        }
    }
}

/// A key as presented: the record it names and the secret to check against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub id: Uuid,
    secret: Vec<u8>,
}

impl PresentedKey {
    /// The key in a bearer token, if the token has a key's shape.
    pub fn parse(token: &str) -> Option<Self> {
        let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
        let id = Uuid::try_parse(id).ok()?;
        let secret = URL_SAFE_NO_PAD.decode(secret).ok().filter(|s| s.len() == 32)?;
        Some(Self { id, secret })
    }

    /// The SHA-256 of the secret, as stored.
    pub fn secret_hash(&self) -> [u8; 32] {
        Sha256::digest(&self.secret).into()
    }
}

/// Whether a bearer token is meant as an API key (and so is judged only as one).
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// A new key: its id, the text shown once, and the hash to store.
pub struct NewKey {
    pub id: Uuid,
    pub text: String,
    pub secret_hash: [u8; 32],
}

impl NewKey {
    pub fn generate() -> Self {
        let id = Uuid::now_v7();
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let text = format!("{PREFIX}{}_{}", id.simple(), URL_SAFE_NO_PAD.encode(secret));
        Self { id, text, secret_hash: Sha256::digest(secret).into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_parses_back_to_its_id_and_stored_hash() {
        let key = NewKey::generate();
        assert!(key.text.starts_with("ik_") && key.text.len() == 3 + 32 + 1 + 43, "{}", key.text);
        let presented = PresentedKey::parse(&key.text).unwrap();
        assert_eq!(presented.id, key.id);
        assert_eq!(presented.secret_hash(), key.secret_hash);
        assert_ne!(NewKey::generate().text, key.text);
    }

    #[test]
    fn a_token_without_the_shape_of_a_key_is_not_one() {
        let key = NewKey::generate();
        assert!(PresentedKey::parse(key.text.trim_start_matches("ik_")).is_none());
        assert!(PresentedKey::parse(&key.text[..key.text.len() - 2]).is_none(), "a shorter secret");
        assert!(PresentedKey::parse("ik_notauuid_AAAA").is_none());
        assert!(PresentedKey::parse("eyJhbGciOiJIUzI1NiJ9.e30.x").is_none());
        assert!(looks_like_key(&key.text) && !looks_like_key("eyJhbGciOiJIUzI1NiJ9"));
    }

    #[test]
    fn scopes_decide_the_role_a_key_acts_with() {
        assert_eq!(KeyScope::AiAgent.role(), Role::Ai);
        assert_eq!(KeyScope::Integration.role(), Role::Supervisor);
        assert_eq!(KeyScope::ReadOnly.role(), Role::Supervisor);
        for (scope, name) in SCOPES {
            assert_eq!(KeyScope::from_name(name), Some(scope));
            assert_eq!(scope.as_str(), name);
        }
        assert_eq!(KeyScope::named("admin").unwrap_err().message, "scope must be ai_agent, integration or read_only");
    }

    #[test]
    fn a_read_only_key_may_only_read() {
        assert!(KeyScope::ReadOnly.permits(&Method::GET));
        assert!(KeyScope::ReadOnly.permits(&Method::HEAD));
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(!KeyScope::ReadOnly.permits(&method), "{method}");
            assert!(KeyScope::Integration.permits(&method) && KeyScope::AiAgent.permits(&method));
        }
    }
}
