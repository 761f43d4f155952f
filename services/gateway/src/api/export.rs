//! Downloading conversation history: `GET /v1/conversations/{id}/export?format=json|csv|text`
//! and `POST /v1/conversations/export` {ids, format}. Both answer with the file itself,
//! streamed as the conversation service produces it: a download that breaks off midway ends
//! without its final chunk, so a client never takes a short file for the whole one.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::export_conversations_response::Part;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, OneOfBuilder, RefOr, Schema, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::request::filter::FilterQuery;
use super::request::{JsonBody, QueryParams, body, query};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(export_one)).routes(routes!(export_many))
}

fn format_from_name(name: &str) -> Result<pb::ExportFormat, PublicError> {
    match name {
        "json" => Ok(pb::ExportFormat::Json),
        "csv" => Ok(pb::ExportFormat::Csv),
        "text" => Ok(pb::ExportFormat::Text),
        _ => Err(PublicError::invalid_argument("format must be json, csv or text")),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FormatQuery {
    /// json (default), csv or text.
    #[serde(default)]
    #[param(schema_with = formats)]
    format: Option<String>,
}

/// The conversation's history as a file.
#[utoipa::path(get, path = "/v1/conversations/{id}/export", tag = "conversations",
    params(("id" = String, Path, description = "The conversation"), FormatQuery),
    responses((status = 200, description = "The file (`Content-Disposition: attachment`), streamed as it is \
        written; a download that breaks off midway ends without its final chunk",
        content((Object = "application/json"), (String = "text/csv"), (String = "text/plain")))))]
async fn export_one(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    params: QueryParams<FormatQuery>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let format = format_from_name(query(params)?.format.as_deref().unwrap_or("json"))?;
    export(state, &ctx, vec![id], format).await
}

/// `ids` or `filter` (exactly one), and the format.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkExport {
    /// The selected conversations, or:
    #[serde(default)]
    ids: Vec<String>,
    /// every conversation matching the list's filter (at most 1,000).
    #[serde(default)]
    filter: Option<FilterQuery>,
    #[schema(schema_with = formats)]
    format: String,
}

/// The formats of an export, as the document lists them.
fn formats() -> utoipa::openapi::Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["json", "csv", "text"])).build()
}

/// Most conversations one export holds.
const MAX_EXPORTED: usize = 1000;

/// Several conversations' history as one file.
#[utoipa::path(post, path = "/v1/conversations/export", tag = "conversations",
    request_body = BulkExport,
    responses((status = 200, description = "The file (`Content-Disposition: attachment`), streamed as it is \
        written (a download that breaks off midway ends without its final chunk); as JSON, the \
        conversation's object, or an array of them when there are several",
        content((ExportedJson = "application/json"), (String = "text/csv"), (String = "text/plain")))))]
async fn export_many(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    bulk: JsonBody<BulkExport>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let bulk = body(bulk)?;
    let format = format_from_name(&bulk.format)?;
    let ids = match (bulk.ids.is_empty(), bulk.filter) {
        (false, None) => bulk.ids,
        (true, Some(filter)) => matching_ids(state, &ctx, filter.to_proto()?).await?,
        _ => return Err(PublicError::invalid_argument("give either ids or a filter").into()),
    };
    if ids.is_empty() {
        return Err(PublicError::not_found("no conversation matches the filter").into());
    }
    export(state, &ctx, ids, format).await
}

/// The ids of the conversations a filter selects, most recent first, up to the export limit.
async fn matching_ids(
    state: &AppState,
    ctx: &CallContext,
    filter: pb::ConversationFilter,
) -> Result<Vec<String>, GatewayError> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let request = pb::ListConversationsRequest {
            page: Some(inbox_proto::common::v1::PageRequest { limit: 200, cursor }),
            filter: Some(filter.clone()),
            sort: pb::SortOrder::Recent as i32,
        };
        let page = state
            .conversations
            .clone()
            .list_conversations(ctx.request(request, &state.service_token)?)
            .await?
            .into_inner();
        ids.extend(page.conversations.into_iter().map(|c| c.id));
        if ids.len() > MAX_EXPORTED {
            return Err(PublicError::invalid_argument(format!(
                "the filter selects more than {MAX_EXPORTED} conversations; narrow it"
            ))
            .into());
        }
        if page.next_cursor.is_empty() {
            return Ok(ids);
        }
        cursor = page.next_cursor;
    }
}

/// The JSON file of an export: one conversation's object, or an array of them.
struct ExportedJson;

impl utoipa::PartialSchema for ExportedJson {
    fn schema() -> RefOr<Schema> {
        let object = || ObjectBuilder::new().schema_type(Type::Object);
        OneOfBuilder::new().item(object()).item(ArrayBuilder::new().items(object())).into()
    }
}

impl utoipa::ToSchema for ExportedJson {}

/// Asks the conversation service for the file, naming senders after the tenant's users, and
/// streams it to the client as the service produces it.
async fn export(
    state: &AppState,
    ctx: &CallContext,
    conversation_ids: Vec<String>,
    format: pb::ExportFormat,
) -> Result<Response, GatewayError> {
    let sender_names = state.store.user_names(ctx.tenant_id).await?;
    let request = ctx.request(
        pb::ExportConversationsRequest { conversation_ids, format: format as i32, sender_names },
        &state.service_token,
    )?;
    // Refusals (not found, not allowed) come as the call's status, before any part.
    let mut parts = state.exports.clone().export_conversations(request).await?.into_inner();
    let Some(Part::Start(start)) = parts.message().await?.and_then(|p| p.part) else {
        tracing::warn!("export stream did not start with the file's name and type");
        return Err(PublicError::unavailable("the export could not start").into());
    };
    // The service makes the name from ids and dates; anything else is replaced so the header
    // stays valid whatever it sends.
    let filename: String = start
        .filename
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")).map_err(|_| PublicError::internal())?;
    let content_type = HeaderValue::from_str(&start.content_type).map_err(|_| PublicError::internal())?;
    Ok(([(CONTENT_TYPE, content_type), (CONTENT_DISPOSITION, disposition)], file_body(parts)).into_response())
}

/// A download that broke off: the response body ends with this error, so the client sees a
/// broken transfer (no final chunk), never a shorter file as if it were whole.
#[derive(Debug, thiserror::Error)]
#[error("export broke off: {0}")]
struct ExportBrokeOff(String);

/// The file's bytes from the parts after `start`, ending cleanly only at the service's `end`
/// when its size matches what came.
fn file_body<S>(parts: S) -> Body
where
    S: Stream<Item = Result<pb::ExportConversationsResponse, tonic::Status>> + Send + Unpin + 'static,
{
    let bytes = futures::stream::try_unfold((parts, 0u64), |(mut parts, received)| async move {
        let broke_off = |reason: String| {
            tracing::warn!(received, %reason, "export broke off");
            ExportBrokeOff(reason)
        };
        match parts.next().await.map(|p| p.map(|p| p.part)) {
            Some(Ok(Some(Part::Chunk(chunk)))) => {
                let received = received + chunk.len() as u64;
                Ok(Some((Bytes::from(chunk), (parts, received))))
            }
            Some(Ok(Some(Part::End(end)))) if end.size_bytes == received => Ok(None),
            Some(Ok(Some(Part::End(end)))) => {
                Err(broke_off(format!("{received} bytes received, the service sent {}", end.size_bytes)))
            }
            Some(Ok(Some(Part::Start(_)) | None)) => Err(broke_off("an unexpected part".into())),
            Some(Err(status)) => Err(broke_off(format!("{:?}: {}", status.code(), status.message()))),
            None => Err(broke_off("the stream ended before the file did".into())),
        }
    });
    Body::from_stream(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> Result<pb::ExportConversationsResponse, tonic::Status> {
        Ok(pb::ExportConversationsResponse { part: Some(Part::Chunk(text.as_bytes().to_vec())) })
    }

    fn end(size_bytes: u64) -> Result<pb::ExportConversationsResponse, tonic::Status> {
        Ok(pb::ExportConversationsResponse { part: Some(Part::End(pb::ExportEnd { size_bytes })) })
    }

    async fn download(parts: Vec<Result<pb::ExportConversationsResponse, tonic::Status>>) -> Result<String, String> {
        let body = file_body(futures::stream::iter(parts));
        let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| format!("{e:?}"))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_file_streamed_to_its_end_downloads_whole_and_in_order() {
        let parts = vec![chunk("a,b\r\n"), chunk("1,2\r\n"), chunk("3,4\r\n"), end(15)];
        assert_eq!(download(parts).await.unwrap(), "a,b\r\n1,2\r\n3,4\r\n");
    }

    #[tokio::test]
    async fn a_file_whose_stream_fails_midway_is_a_broken_download_not_a_short_file() {
        let failed = vec![chunk("a,b\r\n"), Err(tonic::Status::internal("database gone")), chunk("1,2\r\n"), end(10)];
        let err = download(failed).await.unwrap_err();
        assert!(err.contains("database gone"), "{err}");
        let cut = download(vec![chunk("a,b\r\n"), chunk("1,2\r\n")]).await.unwrap_err();
        assert!(cut.contains("ended before the file did"), "{cut}");
        let short = download(vec![chunk("a,b\r\n"), end(10)]).await.unwrap_err();
        assert!(short.contains("5 bytes received, the service sent 10"), "{short}");
    }
}
