//! Who reads and what they may touch: every handler about conversations takes its viewer from
//! here, so a conversation the caller may not see is `not_found` on every call, exactly like
//! another tenant's.

use inbox_service::{CallContext, Role, Visibility};
use tonic::{Request, Status};
use uuid::Uuid;

use super::error::conversation_not_found;
use super::request::user_of;
use crate::store::{ConversationStore, Viewer};

/// The viewer of a call: the calling person (if it is one), the conversations the gateway lets
/// them see, and no internal notes for the AI agent.
pub(super) fn viewer_of<T>(ctx: &CallContext, request: &Request<T>) -> Viewer {
    Viewer {
        user_id: user_of(&ctx.principal),
        visibility: Visibility::of(request),
        without_notes: ctx.role == Role::Ai,
    }
}

/// `not_found` unless `viewer` may see the conversation. Free for a viewer who sees everything:
/// the call's own read or write then answers for a conversation the tenant does not have.
pub(super) async fn ensure_visible(
    store: &ConversationStore,
    ctx: &CallContext,
    viewer: &Viewer,
    conversation_id: Uuid,
) -> Result<(), Status> {
    if viewer.visibility.is_all() {
        return Ok(());
    }
    let scoped = Viewer { user_id: None, ..viewer.clone() };
    match store.visible_conversation(ctx.tenant_id, conversation_id, &scoped).await? {
        Some(_) => Ok(()),
        None => Err(conversation_not_found().into()),
    }
}
