//! `inbox.conversation.v1.Conversations`.

use inbox_errors::PublicError;
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1 as pb;
use inbox_service::CallContext;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::{ConversationStore, Cursor, StoreError};

pub struct ConversationsApi {
    pub store: ConversationStore,
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

fn page_of(page: Option<&PageRequest>) -> Result<(i64, Option<Cursor>), Status> {
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

fn parse_id(text: &str, what: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text).map_err(|_| PublicError::invalid_argument(format!("{what} must be a uuid")).into())
}

fn store_error(e: StoreError) -> Status {
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
}
