//! The conversation list and the view counts.
//!
//! `GET /v1/conversations?<filter>&sort=priority&limit=50&cursor=...` (the filter's parameters
//! are in [`FilterQuery`]); `GET /v1/views?team=<id>` counts every view.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::Value;

use super::error::GatewayError;
use super::present::Page;
use super::present::conversation::{ConversationJson, view_counts};
use super::request::filter::{FilterQuery, sort_from_name};
use super::request::{QueryParams, query};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new().route("/v1/conversations", get(list_conversations)).route("/v1/views", get(count_views))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(flatten)]
    filter: FilterQuery,
}

async fn list_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    list: QueryParams<ListQuery>,
) -> Result<Json<Page<ConversationJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let list = query(list)?;
    let request = pb::ListConversationsRequest {
        page: Some(PageRequest { limit: list.limit.unwrap_or(0), cursor: list.cursor.clone().unwrap_or_default() }),
        filter: Some(list.filter.to_proto()?),
        sort: sort_from_name(list.sort.as_deref().unwrap_or("recent"))? as i32,
    };
    let request = ctx.request(request, &state.service_token)?;
    let response = state.conversations.clone().list_conversations(request).await?.into_inner();
    Ok(Json(Page::new(response.conversations.iter().map(ConversationJson::from).collect(), response.next_cursor)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountQuery {
    #[serde(default)]
    team: Option<String>,
}

async fn count_views(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    count: QueryParams<CountQuery>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let count = query(count)?;
    let request =
        ctx.request(pb::CountViewsRequest { team_id: count.team.unwrap_or_default() }, &state.service_token)?;
    let counts = state.conversations.clone().count_views(request).await?.into_inner();
    Ok(Json(view_counts(&counts)))
}
