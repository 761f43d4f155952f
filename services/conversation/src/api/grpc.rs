//! `inbox.conversation.v1.Conversations`.

use inbox_errors::ErrorCode;
use inbox_errors::PublicError;
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::StatusRules;
use crate::store::{ConversationStore, Cursor, NewReply, StoreError};

pub struct ConversationsApi {
    pub store: ConversationStore,
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

pub(super) fn page_of(page: Option<&PageRequest>) -> Result<(i64, Option<Cursor>), Status> {
    let limit = page.map_or(0, |p| p.limit);
    let limit = if limit == 0 { DEFAULT_PAGE } else { limit };
    if limit > MAX_PAGE {
        return Err(PublicError::invalid_argument(format!("page limit must be at most {MAX_PAGE}")).into());
    }
    let cursor = match page.map(|p| p.cursor.as_str()).unwrap_or_default() {
        "" => None,
        text => Some(Cursor::decode(text).ok_or_else(|| PublicError::invalid_argument("invalid cursor"))?),
    };
    Ok((i64::from(limit), cursor))
}

pub(super) fn parse_id(text: &str, what: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text).map_err(|_| PublicError::invalid_argument(format!("{what} must be a uuid")).into())
}

pub(super) fn store_error(e: StoreError) -> Status {
    match e {
        StoreError::Invalid(reason) => PublicError::invalid_argument(reason).into(),
        StoreError::Database(e) => {
            tracing::error!(error = %e, "store failure");
            PublicError::unavailable("conversation store unavailable").into()
        }
    }
}

#[tonic::async_trait]
impl pb::conversations_server::Conversations for ConversationsApi {
    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let (limit, cursor) = page_of(request.get_ref().page.as_ref())?;
        let (rows, next) = self.store.list_conversations(ctx.tenant_id, limit, cursor).await.map_err(store_error)?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: rows.iter().map(|r| r.to_proto()).collect(),
            next_cursor: next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        tracing::Span::current().record("conversation_id", tracing::field::display(id));
        let row = self.store.get_conversation(ctx.tenant_id, id).await.map_err(store_error)?;
        row.map(|r| Response::new(r.to_proto())).ok_or_else(|| PublicError::not_found("conversation not found").into())
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        tracing::Span::current().record("conversation_id", tracing::field::display(id));
        let (limit, cursor) = page_of(request.get_ref().page.as_ref())?;
        // A conversation of another tenant is "not found", never an empty list.
        if self.store.get_conversation(ctx.tenant_id, id).await.map_err(store_error)?.is_none() {
            return Err(PublicError::not_found("conversation not found").into());
        }
        let (rows, next) = self.store.list_messages(ctx.tenant_id, id, limit, cursor).await.map_err(store_error)?;
        Ok(Response::new(pb::ListMessagesResponse {
            messages: rows.iter().map(|r| r.to_proto()).collect(),
            next_cursor: next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let (ctx, id) = person_on_conversation(&request, &request.get_ref().conversation_id)?;
        let r = request.get_ref();
        let key = r.idempotency_key.trim();
        if key.is_empty() || key.len() > 200 {
            return Err(PublicError::invalid_argument("idempotency_key is required (at most 200 characters)").into());
        }
        let content = r.content.clone().ok_or_else(|| PublicError::invalid_argument("content is required"))?;
        let reply = NewReply {
            conversation_id: id,
            author: &ctx.principal,
            content: &content,
            internal_note: r.internal_note,
            idempotency_key: key,
        };
        let sent = self
            .store
            .send_reply(ctx.tenant_id, &reply)
            .await
            .map_err(store_error)?
            .ok_or_else(|| PublicError::not_found("conversation not found"))?;
        Ok(Response::new(pb::SendMessageResponse {
            message: Some(sent.message.to_proto()),
            conversation: Some(sent.conversation.to_proto()),
            replayed: sent.replayed,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn set_status(&self, request: Request<pb::SetStatusRequest>) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = person_on_conversation(&request, &request.get_ref().conversation_id)?;
        let r = request.get_ref();
        let to = pb::ConversationStatus::try_from(r.status)
            .ok()
            .and_then(crate::domain::Status::from_proto)
            .ok_or_else(|| PublicError::invalid_argument("status must be active, pending, resolved or archived"))?;
        let reason = r.reason.trim();
        if reason.len() > 500 {
            return Err(PublicError::invalid_argument("reason must be at most 500 characters").into());
        }
        let (conversation, _) = self
            .store
            .set_status(ctx.tenant_id, id, to, &ctx.principal, reason)
            .await
            .map_err(store_error)?
            .ok_or_else(|| PublicError::not_found("conversation not found"))?;
        Ok(Response::new(conversation.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn set_priority(
        &self,
        request: Request<pb::SetPriorityRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = person_on_conversation(&request, &request.get_ref().conversation_id)?;
        let r = request.get_ref();
        let priority = pb::Priority::try_from(r.priority)
            .ok()
            .and_then(crate::domain::Priority::from_proto)
            .ok_or_else(|| PublicError::invalid_argument("priority must be urgent, high, normal or low"))?;
        let reason = r.reason.trim();
        if reason.len() > 500 {
            return Err(PublicError::invalid_argument("reason must be at most 500 characters").into());
        }
        let conversation = self
            .store
            .set_priority(ctx.tenant_id, id, priority, reason)
            .await
            .map_err(store_error)?
            .ok_or_else(|| PublicError::not_found("conversation not found"))?;
        Ok(Response::new(conversation.to_proto()))
    }

    async fn list_status_changes(
        &self,
        request: Request<pb::ListStatusChangesRequest>,
    ) -> Result<Response<pb::ListStatusChangesResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
        if self.store.get_conversation(ctx.tenant_id, id).await.map_err(store_error)?.is_none() {
            return Err(PublicError::not_found("conversation not found").into());
        }
        let changes = self.store.list_status_changes(ctx.tenant_id, id).await.map_err(store_error)?;
        Ok(Response::new(pb::ListStatusChangesResponse { changes: changes.iter().map(|c| c.to_proto()).collect() }))
    }

    async fn get_status_rules(
        &self,
        request: Request<pb::GetStatusRulesRequest>,
    ) -> Result<Response<pb::StatusRules>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let rules = self.store.status_rules(ctx.tenant_id).await.map_err(store_error)?;
        Ok(Response::new(rules_to_proto(&rules)))
    }

    async fn set_status_rules(
        &self,
        request: Request<pb::SetStatusRulesRequest>,
    ) -> Result<Response<pb::StatusRules>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        if !matches!(ctx.role, Role::Admin | Role::Operator) {
            return Err(
                PublicError::new(ErrorCode::PermissionDenied, "changing status rules needs the admin role").into()
            );
        }
        let given = request.get_ref().rules.ok_or_else(|| PublicError::invalid_argument("rules are required"))?;
        let rules = StatusRules::from_seconds(
            given.pending_timeout_seconds,
            given.auto_archive_seconds,
            given.reopen_on_customer_message,
        )
        .map_err(PublicError::invalid_argument)?;
        self.store.set_status_rules(ctx.tenant_id, &rules).await.map_err(store_error)?;
        Ok(Response::new(rules_to_proto(&rules)))
    }
}

/// The acting person and the conversation a change is about, recorded on the current span.
fn person_on_conversation<T>(request: &Request<T>, conversation_id: &str) -> Result<(CallContext, Uuid), Status> {
    let ctx = CallContext::of(request)?.clone();
    let id = parse_id(conversation_id, "conversation_id")?;
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(ctx.tenant_id));
    span.record("conversation_id", tracing::field::display(id));
    require_person(&ctx)?;
    Ok((ctx, id))
}

/// Replies and status changes are made by people (agents, supervisors, admins), who are named
/// in the history; the operator administers tenants but does not work conversations.
pub(super) fn require_person(ctx: &CallContext) -> Result<(), Status> {
    if matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin) {
        Ok(())
    } else {
        Err(PublicError::new(ErrorCode::PermissionDenied, "only the tenant's people work conversations").into())
    }
}

fn rules_to_proto(rules: &StatusRules) -> pb::StatusRules {
    pb::StatusRules {
        pending_timeout_seconds: u32::try_from(rules.pending_timeout.as_secs()).unwrap_or(u32::MAX),
        auto_archive_seconds: u32::try_from(rules.auto_archive.as_secs()).unwrap_or(u32::MAX),
        reopen_on_customer_message: rules.reopen_on_customer_message,
    }
}
