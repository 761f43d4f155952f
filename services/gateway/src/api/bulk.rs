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
//! for an assignment to a team with nobody available). Assignment goes through routing, which
//! assigns a few conversations at a time within the request's deadline and reports those it
//! did not reach `not_attempted` (counted in `not_attempted`), so the client sends exactly
//! those again; it takes at most 1,000 ids, or a filter selecting at most 1,000 (more is a
//! 400).

use axum::Json;
use axum::extract::State;
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::bulk_action_request::Action as ConversationAction;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ErrorBody, GatewayError};
use super::names::{priority_named, status_named};
use super::present::bulk::{BulkOutcomeJson, action_outcome, assignment_outcome};
use super::request::filter::FilterQuery;
use super::request::{JsonBody, body};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(bulk_action))
}

/// What to do, by `type`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = BulkAction)]
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
        #[schema(schema_with = super::names::schema::status)]
        status: String,
    },
    Priority {
        #[schema(schema_with = super::names::schema::priority)]
        priority: String,
    },
    Archive,
    Delete,
}

/// `ids` or `filter` (exactly one), and the action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkRequest {
    #[serde(default)]
    ids: Vec<String>,
    /// The list's filter, as an object of its query parameters.
    #[serde(default)]
    filter: Option<FilterQuery>,
    action: Action,
    #[serde(default)]
    reason: String,
}

/// One action on the selected conversations (supervisors and admins; `delete`: admins).
#[utoipa::path(post, path = "/v1/conversations/bulk", tag = "conversations",
    request_body = BulkRequest,
    responses((status = 200, description = "What happened to each conversation; an assignment reports those it \
        did not reach before its deadline as `not_attempted`, to be sent again", body = BulkOutcomeJson),
        (status = 400, description = "Neither or both of ids and filter, an unknown action, or more than 1,000 \
        conversations to assign", body = ErrorBody)))]
async fn bulk_action(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<BulkRequest>,
) -> Result<Json<BulkOutcomeJson>, GatewayError> {
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
    let action = match new.action {
        Action::Assign { assignee_id, team_id, note } => {
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
            let response = state.routing.clone().bulk_assign(request).await?.into_inner();
            return Ok(Json(assignment_outcome(&response)));
        }
        Action::Status { status } => ConversationAction::Status(status_named(&status)? as i32),
        Action::Priority { priority } => ConversationAction::Priority(priority_named(&priority)? as i32),
        Action::Archive => ConversationAction::Archive(true),
        Action::Delete => ConversationAction::Delete(true),
    };
    let request = ctx.request(
        pb::BulkActionRequest { filter: Some(filter), action: Some(action), reason: new.reason },
        &state.service_token,
    )?;
    let response = state.conversations.clone().bulk_action(request).await?.into_inner();
    Ok(Json(action_outcome(&response)))
}
