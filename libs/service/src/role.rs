//! Who acts in a call: the roles a principal may have.

use std::str::FromStr;

use inbox_errors::PublicError;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A support agent: works conversations.
    Agent,
    /// Sees and steers a team's work.
    Supervisor,
    /// Administers a tenant.
    Admin,
    /// The tenant's AI agent: reads conversations, writes AI messages and summaries.
    Ai,
    /// Runs the deployment (inboxctl with the operator token); may act for any tenant.
    Operator,
    /// Another service of the fleet acting on its own behalf (consumers, relays).
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Ai => "ai",
            Role::Operator => "operator",
            Role::Service => "service",
        }
    }
}

impl FromStr for Role {
    type Err = PublicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Role::Agent),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            "ai" => Ok(Role::Ai),
            "operator" => Ok(Role::Operator),
            "service" => Ok(Role::Service),
            other => Err(PublicError::invalid_argument(format!("unknown role {other:?}"))),
        }
    }
}
