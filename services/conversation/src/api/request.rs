//! What every handler reads from a request the same way: ids, pages, bounded text, and who
//! may do what.

use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1::SendGuard;
use inbox_service::{CallContext, Role};
use uuid::Uuid;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// The id in `field`; anything but a uuid is the caller's mistake.
pub(crate) fn parse_id(text: &str, field: &str) -> Result<Uuid, PublicError> {
    Uuid::parse_str(text).map_err(|_| PublicError::invalid_argument(format!("{field} must be a uuid")))
}

/// An optional id: empty is none.
pub(crate) fn optional_id(text: &str, field: &str) -> Result<Option<Uuid>, PublicError> {
    if text.is_empty() { Ok(None) } else { parse_id(text, field).map(Some) }
}

/// The user id in a `user:<uuid>` principal.
pub(crate) fn user_of(principal: &str) -> Option<Uuid> {
    principal.strip_prefix("user:").and_then(|id| Uuid::parse_str(id).ok())
}

/// A page request's limit (default 50, at most 200) and decoded cursor.
pub(super) fn page_of<C>(
    page: Option<&PageRequest>,
    decode: impl Fn(&str) -> Option<C>,
) -> Result<(i64, Option<C>), PublicError> {
    let limit = page.map_or(0, |p| p.limit);
    let limit = if limit == 0 { DEFAULT_PAGE } else { limit };
    if limit > MAX_PAGE {
        return Err(PublicError::invalid_argument(format!("page limit must be at most {MAX_PAGE}")));
    }
    let cursor = match page.map(|p| p.cursor.as_str()).unwrap_or_default() {
        "" => None,
        text => Some(decode(text).ok_or_else(|| PublicError::invalid_argument("invalid cursor"))?),
    };
    Ok((i64::from(limit), cursor))
}

/// A trimmed free-text field of at most `max` characters.
pub(super) fn bounded<'a>(text: &'a str, field: &str, max: usize) -> Result<&'a str, PublicError> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(PublicError::invalid_argument(format!("{field} must be at most {max} characters")));
    }
    Ok(text)
}

/// The client's key that makes a send safe to retry.
pub(super) fn idempotency_key(key: &str) -> Result<&str, PublicError> {
    let key = key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(PublicError::invalid_argument("idempotency_key is required (at most 200 characters)"));
    }
    Ok(key)
}

/// The message a guarded send must find nobody else acted after (`domain::send_guard`); none
/// without a guard, with an empty one, or when the sender insists (`force`).
pub(super) fn last_seen_of(guard: Option<&SendGuard>) -> Result<Option<Uuid>, PublicError> {
    match guard {
        Some(g) if !g.force => optional_id(&g.last_seen_message_id, "guard.last_seen_message_id"),
        _ => Ok(None),
    }
}

/// Replies and status changes are made by people (agents, supervisors, admins), who are named
/// in the history; the operator administers tenants but does not work conversations.
pub(super) fn require_person(ctx: &CallContext) -> Result<(), PublicError> {
    if matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin) {
        Ok(())
    } else {
        Err(PublicError::new(ErrorCode::PermissionDenied, "only the tenant's people work conversations"))
    }
}

/// The services that may send the customer a message of their own (sender kind `system`):
/// the metrics service's CSAT survey.
pub(super) const SYSTEM_SENDERS: [&str; 1] = ["service:metrics"];

/// A service allowed to send system messages ([`SYSTEM_SENDERS`]).
pub(super) fn require_system_sender(ctx: &CallContext) -> Result<(), PublicError> {
    if ctx.role == Role::Service && SYSTEM_SENDERS.contains(&ctx.principal.as_str()) {
        Ok(())
    } else {
        Err(PublicError::new(ErrorCode::PermissionDenied, "this service may not send messages to customers"))
    }
}

pub(super) fn require_admin(ctx: &CallContext, what: &str) -> Result<(), PublicError> {
    if matches!(ctx.role, Role::Admin | Role::Operator) {
        Ok(())
    } else {
        Err(PublicError::new(ErrorCode::PermissionDenied, format!("{what} needs the admin role")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_or_refused_naming_the_field() {
        let id = Uuid::now_v7();
        assert_eq!(parse_id(&id.to_string(), "conversation_id"), Ok(id));
        let refused = parse_id("c-1", "conversation_id").unwrap_err();
        assert_eq!(
            (refused.code, refused.message.as_str()),
            (ErrorCode::InvalidArgument, "conversation_id must be a uuid")
        );
        assert_eq!(optional_id("", "team_id"), Ok(None));
        assert!(optional_id("team", "team_id").is_err());
    }

    #[test]
    fn a_guard_names_the_last_seen_message_unless_the_sender_insists() {
        let seen = Uuid::now_v7();
        let guard = |id: &str, force| SendGuard { last_seen_message_id: id.into(), force };
        assert_eq!(last_seen_of(None), Ok(None));
        assert_eq!(last_seen_of(Some(&guard(&seen.to_string(), false))), Ok(Some(seen)));
        assert_eq!(last_seen_of(Some(&guard(&seen.to_string(), true))), Ok(None), "force");
        assert_eq!(last_seen_of(Some(&guard("", false))), Ok(None));
        assert!(last_seen_of(Some(&guard("m-1", false))).is_err());
    }

    #[test]
    fn pages_default_to_fifty_and_stop_at_two_hundred() {
        let decode = |_: &str| Some(());
        assert_eq!(page_of(None, decode).unwrap().0, 50);
        let big = PageRequest { limit: 201, cursor: String::new() };
        assert!(page_of(Some(&big), decode).is_err());
        let bad_cursor = PageRequest { limit: 10, cursor: "x".into() };
        assert!(page_of(Some(&bad_cursor), |_: &str| None::<()>).is_err());
    }
}
