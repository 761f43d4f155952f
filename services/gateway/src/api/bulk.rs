//! `POST /v1/conversations/bulk`: one action on the selected conversations, or on every
//! conversation matching a filter (the list's query parameters, as a JSON object).
//!
//! ```json
//! {"ids": ["..."], "action": {"type": "status", "status": "resolved"}, "reason": "done"}
//! {"filter": {"status": "resolved"}, "action": {"type": "archive"}}
//! ```
//! Actions: `assign` {assignee_id?, team_id?, note?}, `status` {status}, `priority`
//! {priority}, `archive`, `delete` (admins only). Supervisors and admins only. The answer
//! reports each conversation: `changed`, `unchanged`, `not_found` or `failed` (and `waiting`
//! for an assignment to a team with nobody available). Assignment goes through routing.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};

use super::conversations::{JsonBody, body};
use super::json::{priority_from_name, status_from_name};
use super::views::FilterQuery;
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new().route("/v1/conversations/bulk", post(bulk_action))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Action {
    Assign {
        #[serde(default)]
        assignee_id: Option<String>,
        #[serde(default)]
        team_id: Option<String>,
        #[serde(default)]
        note: String,
    },
    Status {
        status: String,
    },
    Priority {
        priority: String,
    },
    Archive,
    Delete,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkRequest {
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    filter: Option<FilterQuery>,
    action: Action,
    #[serde(default)]
    reason: String,
}

async fn bulk_action(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<BulkRequest>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    if new.ids.is_empty() == new.filter.is_none() {
        return Err(PublicError::invalid_argument("give either ids or a filter").into());
    }
    let mut filter = match &new.filter {
        Some(f) => f.to_proto()?,
        None => pb::ConversationFilter::default(),
    };
    filter.ids = new.ids;
    if let Action::Assign { assignee_id, team_id, note } = new.action {
        // Routing owns assignment: it selects (or resolves the filter) and reports each.
        let request = ctx.request(
            inbox_proto::routing::v1::BulkAssignRequest {
                filter: Some(filter),
                assignee_id: assignee_id.unwrap_or_default(),
                team_id: team_id.unwrap_or_default(),
                note,
            },
            &state.service_token,
        )?;
        let response = state.routing.clone().bulk_assign(request).await.map_err(upstream_failure)?.into_inner();
        return Ok(Json(json!({
            "changed": response.changed,
            "unchanged": response.unchanged,
            "failed": response.failed,
            "results": response.results.iter().map(|r| json!({
                "conversation_id": r.conversation_id,
                "outcome": r.outcome,
                "error": (!r.error.is_empty()).then_some(&r.error),
            })).collect::<Vec<_>>(),
        })));
    }
    use pb::bulk_action_request::Action as A;
    let action = match new.action {
        // Handled above, by routing.
        Action::Assign { .. } => return Err(PublicError::internal().into()),
        Action::Status { status } => A::Status(
            status_from_name(&status)
                .ok_or_else(|| PublicError::invalid_argument("status must be active, pending, resolved or archived"))?
                as i32,
        ),
        Action::Priority { priority } => A::Priority(
            priority_from_name(&priority)
                .ok_or_else(|| PublicError::invalid_argument("priority must be urgent, high, normal or low"))?
                as i32,
        ),
        Action::Archive => A::Archive(true),
        Action::Delete => A::Delete(true),
    };
    let request = ctx.request(
        pb::BulkActionRequest { filter: Some(filter), action: Some(action), reason: new.reason },
        &state.service_token,
    )?;
    let response = state.conversations.clone().bulk_action(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({
        "changed": response.changed,
        "unchanged": response.unchanged,
        "failed": response.failed,
        "results": response.results.iter().map(|r| json!({
            "conversation_id": r.conversation_id,
            "outcome": r.outcome,
            "error": (!r.error.is_empty()).then_some(&r.error),
        })).collect::<Vec<_>>(),
    })))
}
