//! `inbox.conversation.v1.Exports`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::export_conversations_response::Part;
use inbox_service::{CallContext, Role};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use uuid::Uuid;

use super::request::{parse_id, require_person};
use super::scope::viewer_of;
use crate::domain::export::{
    EXPORT_CHUNK_BYTES, ExportError, ExportFormat, ExportWriter, ExportedConversation, ExportedMessage,
    MAX_EXPORT_CONVERSATIONS, filename,
};
use crate::store::{ConversationStore, HistoryReader};

pub struct ExportsApi {
    store: ConversationStore,
    /// One permit per export running: each holds a database connection and a snapshot for
    /// as long as its client takes to download.
    running: Arc<Semaphore>,
}

/// Exports one replica runs at once; more are refused as unavailable until one ends.
pub const MAX_EXPORTS_AT_ONCE: usize = 4;

impl ExportsApi {
    pub fn new(store: ConversationStore) -> Self {
        Self { store, running: Arc::new(Semaphore::new(MAX_EXPORTS_AT_ONCE)) }
    }
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

/// Conversations read per query of an export.
const CONVERSATIONS_PER_PAGE: usize = 100;
/// Messages read per query of an export.
const MESSAGES_PER_PAGE: i64 = 500;
/// Chunks produced ahead of the client: the bound on what an export holds besides one page.
const CHUNKS_AHEAD: usize = 4;
/// Longest an export may take, a slow client included; it holds a database connection and a
/// snapshot meanwhile.
const MAX_EXPORT_TIME: Duration = Duration::from_secs(600);

type Streamed = Result<pb::ExportConversationsResponse, Status>;
type ExportStream = Pin<Box<dyn Stream<Item = Streamed> + Send>>;

fn part(part: pb::export_conversations_response::Part) -> pb::ExportConversationsResponse {
    pb::ExportConversationsResponse { part: Some(part) }
}

#[tonic::async_trait]
impl pb::exports_server::Exports for ExportsApi {
    type ExportConversationsStream = ExportStream;

    #[tracing::instrument(skip_all, fields(tenant_id, conversations))]
    async fn export_conversations(
        &self,
        request: Request<pb::ExportConversationsRequest>,
    ) -> Result<Response<ExportStream>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let span = tracing::Span::current();
        span.record("tenant_id", tracing::field::display(ctx.tenant_id));
        let r = request.get_ref();
        let format = format_of(r.format)?;
        let ids = conversation_ids(&r.conversation_ids)?;
        span.record("conversations", ids.len());
        require_exporter_of(&ctx, ids.len())?;
        let Ok(permit) = self.running.clone().try_acquire_owned() else {
            return Err(PublicError::unavailable("too many exports are running; try again in a moment").into());
        };

        let mut reader = self.store.history_reader(ctx.tenant_id, &viewer_of(&ctx, &request)).await?;
        // A conversation the caller may not see is missing, like one the tenant does not have.
        let visible = reader.visible(&ids).await?;
        if let Some(missing) = ids.iter().find(|id| !visible.contains(id)) {
            return Err(PublicError::not_found(format!("conversation {missing} not found")).into());
        }
        let settings = self.store.tenant_settings(ctx.tenant_id).await?;
        let start = pb::ExportStart {
            content_type: format.content_type().to_owned(),
            filename: filename(&ids, format, &settings, self.store.now()),
        };
        let writer = ExportWriter::new(format, settings, r.sender_names.clone(), ids.len() != 1);
        let (parts, received) = mpsc::channel::<Streamed>(CHUNKS_AHEAD);
        let export = async move {
            let written =
                tokio::time::timeout(MAX_EXPORT_TIME, write_in_pages(&mut reader, &ids, writer, &parts)).await;
            let end = match written {
                Ok(Ok(Some(size_bytes))) => match reader.close().await {
                    Ok(()) => Ok(part(Part::End(pb::ExportEnd { size_bytes }))),
                    Err(e) => Err(Status::from(e)),
                },
                // The client went away.
                Ok(Ok(None)) => return,
                Ok(Err(status)) => Err(status),
                Err(_) => Err(PublicError::unavailable("the export took too long: export fewer conversations").into()),
            };
            if let Err(status) = &end {
                tracing::warn!(code = ?status.code(), message = status.message(), "export broke off");
            }
            let _ = parts.send(end).await;
            // Held by the export until it ends, whichever way.
            drop(permit);
        };
        tokio::spawn(export.instrument(span));
        let first = futures::stream::once(async move { Ok(part(Part::Start(start))) });
        Ok(Response::new(Box::pin(first.chain(ReceiverStream::new(received)))))
    }
}

/// Writes the file of `ids` a page of conversations and a page of messages at a time, sending
/// it to `parts` in chunks; the file's size once all is sent, `None` when the receiver went
/// away.
async fn write_in_pages(
    reader: &mut HistoryReader,
    ids: &[Uuid],
    mut writer: ExportWriter,
    parts: &mpsc::Sender<Streamed>,
) -> Result<Option<u64>, Status> {
    let mut sent = 0u64;
    writer.begin().map_err(export_failed)?;
    for page in ids.chunks(CONVERSATIONS_PER_PAGE) {
        for row in reader.conversations(page).await? {
            let conversation = ExportedConversation::from_rows(&row, &[]);
            writer.begin_conversation(&conversation).map_err(export_failed)?;
            let mut after = None;
            loop {
                let messages = reader.messages(conversation.id, after, MESSAGES_PER_PAGE).await?;
                let Some(last) = messages.last() else { break };
                after = Some((last.sent_at, last.id));
                let exported: Vec<ExportedMessage> = messages.iter().map(ExportedMessage::from_row).collect();
                writer.messages(&conversation, &exported).map_err(export_failed)?;
                if !send_chunks(&mut writer, parts, EXPORT_CHUNK_BYTES, &mut sent).await {
                    return Ok(None);
                }
                if messages.len() < usize::try_from(MESSAGES_PER_PAGE).unwrap_or(usize::MAX) {
                    break;
                }
            }
            writer.end_conversation();
        }
    }
    writer.finish();
    Ok(send_chunks(&mut writer, parts, 1, &mut sent).await.then_some(sent))
}

/// Sends what `writer` holds in chunks of at most [`EXPORT_CHUNK_BYTES`] once it holds at
/// least `at_least` bytes; `false` when the receiver went away.
async fn send_chunks(
    writer: &mut ExportWriter,
    parts: &mpsc::Sender<Streamed>,
    at_least: usize,
    sent: &mut u64,
) -> bool {
    if writer.buffered() < at_least {
        return true;
    }
    for chunk in writer.take().chunks(EXPORT_CHUNK_BYTES) {
        *sent += chunk.len() as u64;
        if parts.send(Ok(part(Part::Chunk(chunk.to_vec())))).await.is_err() {
            return false;
        }
    }
    true
}

fn export_failed(e: ExportError) -> Status {
    tracing::error!(error = %e, "export failed");
    Status::from(PublicError::internal())
}
