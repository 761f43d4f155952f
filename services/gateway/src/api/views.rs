//! The conversation list and the view counts.
//!
//! `GET /v1/conversations?<filter>&sort=priority&limit=50&cursor=...` (the filter's parameters
//! are in [`FilterQuery`]); `GET /v1/views?team=<id>` counts every view.

use axum::Json;
use axum::extract::State;
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present::Page;
use super::present::conversation::{ConversationJson, ViewCountsJson, view_counts};
use super::request::filter::{FilterQuery, sort_from_name};
use super::request::{QueryParams, query};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(list_conversations)).routes(routes!(count_views))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Conversations per page (default 50).
    #[serde(default)]
    #[param(maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
    /// recent (default), oldest, priority, channel or assignment.
    #[serde(default)]
    sort: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterQuery,
}

/// The conversations the caller may see, filtered and sorted, a page at a time.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations",
    params(ListQuery, FilterQuery),
    responses((status = 200, description = "A page of conversations", body = Page<ConversationJson>)))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CountQuery {
    /// Count the `team` views of this team.
    #[serde(default)]
    team: Option<String>,
}

/// How many conversations each view holds.
#[utoipa::path(get, path = "/v1/views", tag = "conversations",
    params(CountQuery),
    responses((status = 200, description = "The counts", body = ViewCountsJson)))]
async fn count_views(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    count: QueryParams<CountQuery>,
) -> Result<Json<ViewCountsJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let count = query(count)?;
    let request =
        ctx.request(pb::CountViewsRequest { team_id: count.team.unwrap_or_default() }, &state.service_token)?;
    let counts = state.conversations.clone().count_views(request).await?.into_inner();
    Ok(Json(view_counts(&counts)))
}
