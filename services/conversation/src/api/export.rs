//! `inbox.conversation.v1.Exports`.

use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::conversation::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::request::{parse_id, require_person};
use super::scope::viewer_of;
use crate::domain::export::{
    ExportFormat, ExportedConversation, MAX_EXPORT_BYTES, MAX_EXPORT_CONVERSATIONS, filename, write_export,
};
use crate::store::ConversationStore;

pub struct ExportsApi {
    pub store: ConversationStore,
}

fn format_of(value: i32) -> Result<ExportFormat, Status> {
    match pb::ExportFormat::try_from(value) {
        Ok(pb::ExportFormat::Json) => Ok(ExportFormat::Json),
        Ok(pb::ExportFormat::Csv) => Ok(ExportFormat::Csv),
        Ok(pb::ExportFormat::Text) => Ok(ExportFormat::Text),
        _ => Err(PublicError::invalid_argument("format must be json, csv or text").into()),
    }
}

/// The requested ids, parsed, each once, in the order given.
fn conversation_ids(given: &[String]) -> Result<Vec<Uuid>, Status> {
    if given.is_empty() {
        return Err(PublicError::invalid_argument("conversation_ids must name at least one conversation").into());
    }
    if given.len() > MAX_EXPORT_CONVERSATIONS {
        return Err(PublicError::invalid_argument(format!(
            "conversation_ids may name at most {MAX_EXPORT_CONVERSATIONS} conversations per export"
        ))
        .into());
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(given.len());
    for (i, text) in given.iter().enumerate() {
        let id = parse_id(text.trim(), &format!("conversation_ids[{i}]"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// An agent downloads the conversation in front of them; bulk exports are for supervisors.
fn require_exporter_of(ctx: &CallContext, count: usize) -> Result<(), Status> {
    require_person(ctx)?;
    if count > 1 && !matches!(ctx.role, Role::Supervisor | Role::Admin) {
        return Err(PublicError::new(
            ErrorCode::PermissionDenied,
            "exporting more than one conversation needs the supervisor or admin role",
        )
        .into());
    }
    Ok(())
}

#[tonic::async_trait]
impl pb::exports_server::Exports for ExportsApi {
    #[tracing::instrument(skip_all, fields(tenant_id, conversations))]
    async fn export_conversations(
        &self,
        request: Request<pb::ExportConversationsRequest>,
    ) -> Result<Response<pb::ExportConversationsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let span = tracing::Span::current();
        span.record("tenant_id", tracing::field::display(ctx.tenant_id));
        let r = request.get_ref();
        let format = format_of(r.format)?;
        let ids = conversation_ids(&r.conversation_ids)?;
        span.record("conversations", ids.len());
        require_exporter_of(&ctx, ids.len())?;

        // A conversation the caller may not see is missing, like one the tenant does not have.
        let histories = self.store.conversation_histories(ctx.tenant_id, &ids, &viewer_of(&ctx, &request)).await?;
        if let Some(missing) = ids.iter().find(|id| !histories.iter().any(|h| h.conversation.id == **id)) {
            return Err(PublicError::not_found(format!("conversation {missing} not found")).into());
        }
        let settings = self.store.tenant_settings(ctx.tenant_id).await?;
        let conversations: Vec<ExportedConversation> =
            histories.iter().map(|h| ExportedConversation::from_rows(&h.conversation, &h.messages)).collect();
        let content = write_export(&conversations, format, &settings, &r.sender_names).map_err(|e| {
            tracing::error!(error = %e, "export failed");
            Status::from(PublicError::internal())
        })?;
        if content.len() > MAX_EXPORT_BYTES {
            return Err(PublicError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the export is larger than {} MiB: export fewer conversations at a time",
                    MAX_EXPORT_BYTES >> 20
                ),
            )
            .into());
        }
        Ok(Response::new(pb::ExportConversationsResponse {
            content,
            content_type: format.content_type().to_owned(),
            filename: filename(&conversations, format, &settings, self.store.now()),
        }))
    }
}
