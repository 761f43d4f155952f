//! Who may call a service, and what each caller may do there.
//!
//! Every service presents its own token (`auth.service_token`) on the calls it makes. A callee
//! configured with `auth.callers` (`name:<SHA-256 of the caller's token>`, …) knows each caller
//! by its token and holds it to the [`Grant`] the callee declares for that name: which methods
//! it may call and which roles it may claim in `x-inbox-role`. The gateway acts for people and
//! is granted everything; search, metrics, notification and routing get the few reads (and,
//! for metrics, the survey send) they need, so a leaked search token is not an operator token
//! for every tenant. The callee stores hashes only: its configuration does not hold the
//! credentials of its callers.
//!
//! Without `auth.callers` (the shared-token mode of older deployments and of tests that start
//! one service alone) a call is accepted when it presents the callee's own token, as before.

use inbox_config::{AuthSettings, CallerEntry, Secret};
use inbox_errors::{ErrorCode, PublicError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::role::Role;

/// Every role, for a caller that acts for anyone (the gateway).
pub const ALL_ROLES: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin, Role::Ai, Role::Operator, Role::Service];

/// What a callee lets one named caller do.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    /// The name the callee's `auth.callers` gives the caller's token.
    pub caller: &'static str,
    /// Full gRPC paths (`/inbox.routing.v1.Routing/ListAgents`), or `*` for every method.
    pub methods: &'static [&'static str],
    /// The roles the caller may claim.
    pub roles: &'static [Role],
}

impl Grant {
    /// Every method, every role: for the gateway, which decides who a person is.
    pub const fn everything(caller: &'static str) -> Grant {
        Grant { caller, methods: &["*"], roles: ALL_ROLES }
    }

    fn permits(&self, method: &str, role: Role) -> bool {
        self.roles.contains(&role) && self.methods.iter().any(|m| *m == "*" || *m == method)
    }
}

/// The gRPC method of a call, put into the request's extensions by the router's layer
/// ([`mark_method`]) so that the interceptor, which sees no URI, can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalledMethod(pub String);

/// The caller a call was identified as (`fleet` in the shared-token mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// Layer function of every gRPC router: records the called method.
pub fn mark_method(mut request: http::Request<tonic::body::Body>) -> http::Request<tonic::body::Body> {
    let method = CalledMethod(request.uri().path().to_owned());
    request.extensions_mut().insert(method);
    request
}

/// How a callee recognises its callers.
#[derive(Clone)]
pub(crate) enum Callers {
    /// Whoever presents this token may call everything.
    Shared(Secret),
    /// Each caller by the SHA-256 of its token, held to its grant.
    Named { callers: Vec<CallerEntry>, grants: &'static [Grant] },
}

impl Callers {
    /// From the settings; a malformed `auth.callers` (refused at start by validation) admits
    /// nobody rather than falling back to the shared token.
    pub(crate) fn from_settings(auth: &AuthSettings, grants: &'static [Grant]) -> Callers {
        if auth.callers.trim().is_empty() {
            return Callers::Shared(auth.service_token.clone());
        }
        Callers::Named { callers: auth.caller_entries().unwrap_or_default(), grants }
    }

    /// Who presented `token`, if it may call `method` claiming `role`.
    pub(crate) fn admit(&self, token: &str, method: Option<&str>, role: Role) -> Result<Caller, PublicError> {
        let invalid = || PublicError::new(ErrorCode::Unauthenticated, "invalid service token");
        match self {
            Callers::Shared(expected) => {
                let expected = expected.expose().as_bytes();
                if expected.is_empty() || !bool::from(token.as_bytes().ct_eq(expected)) {
                    return Err(invalid());
                }
                Ok(Caller("fleet".into()))
            }
            Callers::Named { callers, grants } => {
                let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                // Every entry is compared, in constant time, whichever matches.
                let mut found = None;
                for entry in callers {
                    if bool::from(entry.token_sha256.ct_eq(&presented)) {
                        found = Some(entry.name.as_str());
                    }
                }
                let name = found.ok_or_else(invalid)?;
                let method = method.unwrap_or("");
                let granted = grants.iter().any(|g| g.caller == name && g.permits(method, role));
                if !granted {
                    let what = format!("service {name} may not call {method} as {}", role.as_str());
                    return Err(PublicError::new(ErrorCode::PermissionDenied, what));
                }
                Ok(Caller(name.to_owned()))
            }
        }
    }
}

/// The granted methods that no service of the fleet's protos declares (a typo grants nothing
/// and would only show when the call is refused): each service's tests assert this is empty.
pub fn unknown_methods(grants: &[Grant]) -> Vec<String> {
    use prost::Message as _;
    let Ok(set) = prost_types::FileDescriptorSet::decode(inbox_proto::FILE_DESCRIPTOR_SET) else {
        return vec!["(the embedded descriptor set does not decode)".into()];
    };
    let known: Vec<String> = set
        .file
        .iter()
        .flat_map(|file| {
            file.service.iter().flat_map(move |service| {
                service.method.iter().map(move |m| format!("/{}.{}/{}", file.package(), service.name(), m.name()))
            })
        })
        .collect();
    grants
        .iter()
        .flat_map(|g| g.methods.iter())
        .filter(|m| **m != "*" && !known.iter().any(|k| k == *m))
        .map(|m| (*m).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &str = "/inbox.conversation.v1.Conversations/GetConversation";
    const SEND: &str = "/inbox.conversation.v1.Conversations/SendMessage";
    const GRANTS: &[Grant] =
        &[Grant::everything("gateway"), Grant { caller: "search", methods: &[GET], roles: &[Role::Service] }];

    fn hash(token: &str) -> String {
        hex_of(&Sha256::digest(token.as_bytes()))
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn named() -> Callers {
        let auth = AuthSettings {
            service_token: Secret::new("the-callee-own-token"),
            callers: format!("gateway:{},search:{}", hash("gateway-token-0123"), hash("search-token-0123")),
        };
        Callers::from_settings(&auth, GRANTS)
    }

    #[test]
    fn each_caller_is_known_by_its_own_token() {
        let callers = named();
        assert_eq!(callers.admit("gateway-token-0123", Some(SEND), Role::Operator).unwrap(), Caller("gateway".into()));
        assert_eq!(callers.admit("search-token-0123", Some(GET), Role::Service).unwrap(), Caller("search".into()));
        // The callee's own token is nobody's here, nor is a token of a caller it does not list.
        for token in ["the-callee-own-token", "metrics-token-0123", ""] {
            assert_eq!(callers.admit(token, Some(GET), Role::Service).unwrap_err().code, ErrorCode::Unauthenticated);
        }
    }

    #[test]
    fn a_caller_is_held_to_its_methods_and_roles() {
        let callers = named();
        let denied = |method: Option<&str>, role| callers.admit("search-token-0123", method, role).unwrap_err();
        let e = denied(Some(SEND), Role::Service);
        assert_eq!(e.code, ErrorCode::PermissionDenied);
        assert_eq!(e.message, format!("service search may not call {SEND} as service"));
        assert_eq!(denied(Some(GET), Role::Operator).code, ErrorCode::PermissionDenied);
        assert_eq!(denied(Some(GET), Role::Admin).code, ErrorCode::PermissionDenied);
        // A router without the method layer grants nothing but `*`.
        assert_eq!(denied(None, Role::Service).code, ErrorCode::PermissionDenied);
        assert!(callers.admit("gateway-token-0123", None, Role::Agent).is_ok());
    }

    #[test]
    fn the_shared_mode_accepts_the_own_token_only() {
        let auth = AuthSettings { service_token: Secret::new("the-shared-token-0123"), callers: String::new() };
        let callers = Callers::from_settings(&auth, GRANTS);
        assert_eq!(callers.admit("the-shared-token-0123", Some(SEND), Role::Operator).unwrap(), Caller("fleet".into()));
        assert!(callers.admit("another-token-012345", Some(GET), Role::Service).is_err());
        let empty =
            Callers::from_settings(&AuthSettings { service_token: Secret::new(""), callers: String::new() }, GRANTS);
        assert!(empty.admit("", Some(GET), Role::Service).is_err());
    }

    #[test]
    fn a_malformed_callers_setting_admits_nobody() {
        let auth = AuthSettings { service_token: Secret::new("the-shared-token-0123"), callers: "gateway:xyz".into() };
        let callers = Callers::from_settings(&auth, GRANTS);
        assert!(callers.admit("the-shared-token-0123", Some(GET), Role::Service).is_err());
    }

    #[test]
    fn granted_methods_are_checked_against_the_protos() {
        assert!(unknown_methods(GRANTS).is_empty());
        let typo =
            [Grant { caller: "x", methods: &["/inbox.conversation.v1.Conversations/GetConversaton"], roles: &[] }];
        assert_eq!(unknown_methods(&typo), ["/inbox.conversation.v1.Conversations/GetConversaton"]);
    }
}
