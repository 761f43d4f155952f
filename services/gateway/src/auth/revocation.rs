//! Revocations spread to every gateway replica over core NATS, so a signed-out session, a
//! disabled user or a revoked key is refused everywhere at once and their live sockets close.
//!
//! Subject [`SUBJECT`] (gateway-internal, outside every JetStream stream's subjects) carries a
//! tiny JSON: `{"session":"<uuid>"}`, `{"user":"<uuid>"}` or `{"key":"<uuid>"}`. Core NATS
//! delivers at most once: a replica that misses one still catches up within the record
//! cache's TTL, and its sockets at their next recheck.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Principal;

pub const SUBJECT: &str = "gateway.revocations";

/// What was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// One session: a sign-out, or a refresh token used twice.
    Session(Uuid),
    /// Every session and token of a user: revoke-all, disabled, password reset.
    User(Uuid),
    /// An API key.
    Key(Uuid),
}

impl Revocation {
    /// Whether it ends what `principal` signed in with.
    pub fn ends(&self, principal: &Principal) -> bool {
        match (self, principal) {
            (Revocation::User(id), Principal::User { user_id, .. }) => id == user_id,
            (Revocation::Session(id), Principal::User { session_id, .. }) => session_id.as_ref() == Some(id),
            (Revocation::Key(id), Principal::Key { key_id, .. }) => id == key_id,
            _ => false,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use inbox_service::Role;

    use super::*;
    use crate::auth::api_key::KeyScope;

    #[test]
    fn the_wire_form_is_a_tiny_json_object() {
        let id = Uuid::new_v4();
        let revocation = Revocation::Session(id);
        assert_eq!(String::from_utf8(revocation.to_json()).unwrap(), format!(r#"{{"session":"{id}"}}"#));
        assert_eq!(Revocation::from_json(format!(r#"{{"key":"{id}"}}"#).as_bytes()), Some(Revocation::Key(id)));
        assert_eq!(Revocation::from_json(b"{\"team\":1}"), None);
    }

    #[test]
    fn a_revocation_ends_the_principals_it_names_and_no_other() {
        let (user_id, session_id, key_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let tenant_id = Uuid::new_v4();
        let person = Principal::User { tenant_id, user_id, role: Role::Agent, session_id: Some(session_id) };
        let key = Principal::Key { tenant_id, key_id, scope: KeyScope::ReadOnly };
        assert!(Revocation::User(user_id).ends(&person));
        assert!(Revocation::Session(session_id).ends(&person));
        assert!(!Revocation::Session(Uuid::new_v4()).ends(&person), "another session of the same user");
        assert!(Revocation::Key(key_id).ends(&key));
        assert!(!Revocation::User(key_id).ends(&key));
        assert!(!Revocation::User(user_id).ends(&Principal::Operator));
    }
}
