//! Assignment by hand, one conversation or in bulk, and the assignment history.

use std::time::Duration;

use futures::StreamExt;
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as conv;
use inbox_proto::routing::v1 as pb;
use inbox_service::{CallContext, Role};
use tokio::time::Instant;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::RoutingApi;
use super::access::{PEOPLE, READERS, require};
use super::presenters::bounded;
use crate::domain::{AssignTarget, Reason};
use crate::ids::{optional_id, parse_id};

/// Most conversations one bulk assignment names or selects by filter: what fits in a call's
/// deadline a few at a time.
pub const MAX_BULK: usize = 1_000;

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
/// through the conversation service); more than [`MAX_BULK`] is refused.
async fn select(api: &RoutingApi, ctx: &CallContext, filter: conv::ConversationFilter) -> Result<Vec<String>, Status> {
    let only_ids = conv::ConversationFilter { ids: filter.ids.clone(), ..Default::default() };
    if !filter.ids.is_empty() && filter == only_ids {
        if filter.ids.len() > MAX_BULK {
            return Err(PublicError::invalid_argument(format!(
                "{} conversation ids: at most {MAX_BULK} per bulk assignment; send the rest in another request",
                filter.ids.len()
            ))
            .into());
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
        if ids.len() + page.conversations.len() > MAX_BULK {
            return Err(PublicError::invalid_argument(format!(
                "the filter selects more than {MAX_BULK} conversations; narrow it"
            ))
            .into());
        }
        for c in &page.conversations {
            learn(api, ctx.tenant_id, c).await?;
            ids.push(c.id.clone());
        }
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
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

/// How a bulk assignment spends its time: a few conversations at once, until its deadline.
#[derive(Debug, Clone, Copy)]
pub struct BulkLimits {
    /// Conversations assigned at once.
    pub concurrency: usize,
    /// The longest a bulk assignment runs whatever deadline its caller gave.
    pub time_limit: Duration,
}

/// Time kept back from a bulk assignment's deadline to answer in (at most a quarter of it):
/// no conversation is started after the deadline minus this, and one still running then is
/// reported as timed out.
const ANSWER_RESERVE: Duration = Duration::from_millis(500);

/// The deadline the caller set (`grpc-timeout`: up to 8 digits and a unit), if any.
fn caller_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// When a bulk assignment stops starting conversations: before the caller's deadline (or the
/// configured limit), leaving time to answer.
fn stop_starting_at(started: Instant, caller: Option<Duration>, limit: Duration) -> Instant {
    let budget = caller.map_or(limit, |c| c.min(limit));
    started + budget.saturating_sub(ANSWER_RESERVE.min(budget / 4))
}

#[tracing::instrument(skip_all, fields(tenant_id, selected, not_attempted))]
pub async fn bulk_assign(
    api: &RoutingApi,
    request: Request<pb::BulkAssignRequest>,
) -> Result<Response<pb::BulkAssignResponse>, Status> {
    let stop_at = stop_starting_at(Instant::now(), caller_timeout(request.metadata()), api.bulk.time_limit);
    let ctx = CallContext::of(&request)?.clone();
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    require(&ctx, &[Role::Supervisor, Role::Admin], "bulk assignment")?;
    let r = request.get_ref();
    let target = AssignTarget {
        assignee_id: optional_id(&r.assignee_id, "assignee_id")?,
        team_id: optional_id(&r.team_id, "team_id")?,
    };
    let note = bounded(&r.note, "note", 1000)?;
    let ids = select(api, &ctx, r.filter.clone().unwrap_or_default()).await?;
    tracing::Span::current().record("selected", ids.len());
    let results: Vec<pb::BulkAssignItem> = futures::stream::iter(ids)
        .map(|id| assign_one(api, &ctx, id, target, note, stop_at))
        .buffered(api.bulk.concurrency.max(1))
        .collect()
        .await;
    let mut response = pb::BulkAssignResponse::default();
    for item in &results {
        match item.outcome.as_str() {
            "unchanged" => response.unchanged += 1,
            "not_found" | "failed" => response.failed += 1,
            "not_attempted" => response.not_attempted += 1,
            _ => response.changed += 1,
        }
    }
    tracing::Span::current().record("not_attempted", response.not_attempted);
    response.results = results;
    Ok(Response::new(response))
}

/// One conversation of a bulk assignment, reported whatever happens; not started at or after
/// `stop_at`, and abandoned if still running then.
async fn assign_one(
    api: &RoutingApi,
    ctx: &CallContext,
    text: String,
    target: AssignTarget,
    note: &str,
    stop_at: Instant,
) -> pb::BulkAssignItem {
    let item = |outcome: &str, error: &str| pb::BulkAssignItem {
        conversation_id: text.clone(),
        outcome: outcome.into(),
        error: error.into(),
    };
    if Instant::now() >= stop_at {
        return item("not_attempted", "the request's deadline came first: send it again");
    }
    let id = match parse_id(&text, "conversation_id") {
        Ok(id) => id,
        Err(e) => return item("failed", &e.to_string()),
    };
    let attempt = async {
        match know_conversation(api, ctx, id).await {
            Ok(true) => {}
            Ok(false) => return item("not_found", "conversation not found"),
            Err(status) => return item("failed", status.message()),
        }
        match api.store.assign(ctx.tenant_id, id, target, &ctx.principal, note, Reason::Bulk, &api.book).await {
            Ok(o) => item(o.outcome, ""),
            Err(e) => item("failed", &PublicError::from(e).message),
        }
    };
    match tokio::time::timeout_at(stop_at, attempt).await {
        Ok(reported) => reported,
        Err(_) => {
            item("failed", "timed out at the request's deadline; it may have taken effect: assigning again is safe")
        }
    }
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

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataMap;

    use super::*;

    fn timeout(value: &str) -> Option<Duration> {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", value.parse().unwrap());
        caller_timeout(&metadata)
    }

    #[test]
    fn the_callers_deadline_is_read_in_every_unit_grpc_allows() {
        assert_eq!(timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(timeout("9n"), Some(Duration::from_nanos(9)));
        for nonsense in ["S", "10", "10s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(timeout(nonsense), None, "{nonsense}");
        }
        assert_eq!(caller_timeout(&MetadataMap::new()), None);
    }

    #[test]
    fn a_bulk_assignment_stops_starting_before_the_nearer_deadline_leaving_time_to_answer() {
        let started = Instant::now();
        let limit = Duration::from_secs(20);
        // The caller's 10 s are nearer than the limit; half a second is kept to answer.
        assert_eq!(
            stop_starting_at(started, Some(Duration::from_secs(10)), limit),
            started + Duration::from_millis(9500)
        );
        // No deadline, or a later one: the configured limit.
        assert_eq!(stop_starting_at(started, None, limit), started + Duration::from_millis(19_500));
        assert_eq!(
            stop_starting_at(started, Some(Duration::from_secs(60)), limit),
            started + Duration::from_millis(19_500)
        );
        // A short deadline keeps a quarter of it to answer.
        assert_eq!(
            stop_starting_at(started, Some(Duration::from_millis(400)), limit),
            started + Duration::from_millis(300)
        );
    }
}
