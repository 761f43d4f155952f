//! Who may call what: roles, and the person behind a call.

use inbox_errors::{ErrorCode, PublicError};
use inbox_service::{CallContext, Role};
use tonic::Status;
use uuid::Uuid;

use crate::ids::parse_id;

/// People working conversations.
pub const PEOPLE: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];
/// Everyone who may read routing's data.
pub const READERS: [Role; 5] = [Role::Agent, Role::Supervisor, Role::Admin, Role::Operator, Role::Service];
/// Those who manage agents' profiles and teams.
pub const MANAGERS: [Role; 2] = [Role::Admin, Role::Operator];

/// Refuses the call unless its role is among `roles`; `what` names the action.
pub fn require(ctx: &CallContext, roles: &[Role], what: &str) -> Result<(), Status> {
    if roles.contains(&ctx.role) {
        Ok(())
    } else {
        Err(PublicError::new(
            ErrorCode::PermissionDenied,
            format!("{what} is not allowed for the {} role", ctx.role.as_str()),
        )
        .into())
    }
}

/// The user id of a `user:<id>` principal.
pub fn user_of(principal: &str) -> Option<Uuid> {
    principal.strip_prefix("user:").and_then(|id| parse_id(id, "user id").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_user_principals_name_a_person() {
        let id = Uuid::now_v7();
        assert_eq!(user_of(&format!("user:{id}")), Some(id));
        assert_eq!(user_of("service:gateway"), None);
        assert_eq!(user_of("user:nobody"), None);
    }

    #[test]
    fn a_role_outside_the_list_is_refused_naming_the_action() {
        let ctx = CallContext { tenant_id: Uuid::nil(), principal: "user:x".into(), role: Role::Agent };
        assert!(require(&ctx, &PEOPLE, "assigning").is_ok());
        let refused = require(&ctx, &MANAGERS, "managing teams").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert_eq!(refused.message(), "managing teams is not allowed for the agent role");
    }
}
