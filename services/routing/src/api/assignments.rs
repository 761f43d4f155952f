//! Assignment by hand, one conversation or in bulk, and the assignment history.

use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as conv;
use inbox_proto::routing::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::RoutingApi;
use super::access::{PEOPLE, READERS, require};
use super::presenters::bounded;
use crate::domain::{AssignTarget, Reason};
use crate::ids::{optional_id, parse_id};

/// Most conversations one bulk assignment selects by filter.
pub const MAX_BULK: usize = 10_000;

/// Makes sure routing knows `conversation_id`, asking the conversation service when it does
/// not. `false` when the conversation is not the tenant's.
async fn know_conversation(api: &RoutingApi, ctx: &CallContext, conversation_id: Uuid) -> Result<bool, Status> {
    if api.store.knows(ctx.tenant_id, conversation_id).await? {
        return Ok(true);
    }
    let request =
        ctx.request(conv::GetConversationRequest { conversation_id: conversation_id.to_string() }, &api.service_token)?;
    match api.conversations.clone().get_conversation(request).await {
        Ok(c) => {
            learn(api, ctx.tenant_id, &c.into_inner()).await?;
            Ok(true)
        }
        Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
        Err(status) => {
            tracing::warn!(code = ?status.code(), message = status.message(), "conversation lookup failed");
            Err(PublicError::unavailable("conversation service unavailable").into())
        }
    }
}

/// Records a conversation the conversation service described.
async fn learn(api: &RoutingApi, tenant_id: Uuid, c: &conv::Conversation) -> Result<(), Status> {
    let id = parse_id(&c.id, "conversation id")?;
    let status = conv::ConversationStatus::try_from(c.status).unwrap_or(conv::ConversationStatus::Unspecified);
    let open = matches!(status, conv::ConversationStatus::Active | conv::ConversationStatus::Pending);
    let channel = inbox_bus::subjects::channel_token(
        inbox_proto::common::v1::Channel::try_from(c.channel).unwrap_or(inbox_proto::common::v1::Channel::Unspecified),
    );
    Ok(api.store.learn_conversation(tenant_id, id, channel, c.version, open, c.needs_human).await?)
}

/// The ids a bulk request selects: the listed ones, or every match of the filter (paged
/// through the conversation service, at most [`MAX_BULK`]).
async fn select(api: &RoutingApi, ctx: &CallContext, filter: conv::ConversationFilter) -> Result<Vec<String>, Status> {
    let only_ids = conv::ConversationFilter { ids: filter.ids.clone(), ..Default::default() };
    if !filter.ids.is_empty() && filter == only_ids {
        if filter.ids.len() > MAX_BULK {
            return Err(PublicError::invalid_argument(format!("at most {MAX_BULK} ids")).into());
        }
        return Ok(filter.ids);
    }
    if filter == conv::ConversationFilter::default() {
        return Err(PublicError::invalid_argument("select conversations: give ids or at least one filter").into());
    }
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let request = ctx.request(
            conv::ListConversationsRequest {
                page: Some(inbox_proto::common::v1::PageRequest { limit: 200, cursor: cursor.clone() }),
                filter: Some(filter.clone()),
                ..Default::default()
            },
            &api.service_token,
        )?;
        let page = api.conversations.clone().list_conversations(request).await.map_err(|status| {
            tracing::warn!(code = ?status.code(), message = status.message(), "listing conversations failed");
            Status::from(PublicError::from_status(&status))
        })?;
        let page = page.into_inner();
        for c in &page.conversations {
            learn(api, ctx.tenant_id, c).await?;
            ids.push(c.id.clone());
        }
        if page.next_cursor.is_empty() || ids.len() >= MAX_BULK {
            break;
        }
        cursor = page.next_cursor;
    }
    ids.truncate(MAX_BULK);
    Ok(ids)
}

#[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
pub async fn assign(
    api: &RoutingApi,
    request: Request<pb::AssignRequest>,
) -> Result<Response<pb::AssignResponse>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    require(&ctx, &PEOPLE, "assigning conversations")?;
    let r = request.get_ref();
    let id = parse_id(&r.conversation_id, "conversation_id")?;
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    tracing::Span::current().record("conversation_id", tracing::field::display(id));
    let target = AssignTarget {
        assignee_id: optional_id(&r.assignee_id, "assignee_id")?,
        team_id: optional_id(&r.team_id, "team_id")?,
    };
    let note = bounded(&r.note, "note", 1000)?;
    if !know_conversation(api, &ctx, id).await? {
        return Err(PublicError::not_found("conversation not found").into());
    }
    let outcome = api.store.assign(ctx.tenant_id, id, target, &ctx.principal, note, Reason::Manual, &api.book).await?;
    tracing::info!(outcome = outcome.outcome, "assignment decided");
    Ok(Response::new(pb::AssignResponse {
        outcome: outcome.outcome.into(),
        assignee_id: outcome.assignee_id.map(|u| u.to_string()).unwrap_or_default(),
        team_id: outcome.team_id.map(|u| u.to_string()).unwrap_or_default(),
        sequence: outcome.sequence,
    }))
}

#[tracing::instrument(skip_all, fields(tenant_id, selected))]
pub async fn bulk_assign(
    api: &RoutingApi,
    request: Request<pb::BulkAssignRequest>,
) -> Result<Response<pb::BulkAssignResponse>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    require(&ctx, &[Role::Supervisor, Role::Admin], "bulk assignment")?;
    let r = request.get_ref();
    let target = AssignTarget {
        assignee_id: optional_id(&r.assignee_id, "assignee_id")?,
        team_id: optional_id(&r.team_id, "team_id")?,
    };
    let note = bounded(&r.note, "note", 1000)?.to_owned();
    let ids = select(api, &ctx, r.filter.clone().unwrap_or_default()).await?;
    tracing::Span::current().record("selected", ids.len());
    let mut response = pb::BulkAssignResponse::default();
    for text in ids {
        let item = |outcome: &str, error: String| pb::BulkAssignItem {
            conversation_id: text.clone(),
            outcome: outcome.into(),
            error,
        };
        let id = match parse_id(&text, "conversation_id") {
            Ok(id) => id,
            Err(e) => {
                response.failed += 1;
                response.results.push(item("failed", e.to_string()));
                continue;
            }
        };
        match know_conversation(api, &ctx, id).await {
            Ok(true) => {}
            Ok(false) => {
                response.failed += 1;
                response.results.push(item("not_found", "conversation not found".into()));
                continue;
            }
            Err(status) => {
                response.failed += 1;
                response.results.push(item("failed", status.message().to_owned()));
                continue;
            }
        }
        match api.store.assign(ctx.tenant_id, id, target, &ctx.principal, &note, Reason::Bulk, &api.book).await {
            Ok(o) => {
                if o.outcome == "unchanged" {
                    response.unchanged += 1;
                } else {
                    response.changed += 1;
                }
                response.results.push(item(o.outcome, String::new()));
            }
            Err(e) => {
                response.failed += 1;
                response.results.push(item("failed", PublicError::from(e).message));
            }
        }
    }
    Ok(Response::new(response))
}

pub async fn history(
    api: &RoutingApi,
    request: Request<pb::ListAssignmentHistoryRequest>,
) -> Result<Response<pb::ListAssignmentHistoryResponse>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    require(&ctx, &READERS, "reading assignment history")?;
    let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
    let rows = api.store.history(ctx.tenant_id, id).await?;
    Ok(Response::new(pb::ListAssignmentHistoryResponse { changes: rows.iter().map(|r| r.to_proto()).collect() }))
}
