//! The search service's routes (docs/search.md, "Through the gateway"):
//!
//! - `GET /v1/search?q=&order=relevance|recent&limit=&cursor=&facets=`: the conversations the
//!   caller may see that match the query, each in the conversation list's JSON with the
//!   highlighted fragments that matched and the best matching message;
//! - `GET /v1/search/customers?q=&limit=&cursor=`: the tenant's customers;
//! - `GET /v1/search/top-questions?period=24h|7d|30d|90d&limit=`: what customers ask most
//!   (supervisors and admins);
//! - `GET /v1/search/status`, `POST /v1/search/reindex`: the index of the caller's tenant
//!   (admins); the same for the operator as `GET /v1/admin/tenants/{id}/search/status`,
//!   `POST /v1/admin/tenants/{id}/search/reindex`, and `POST /v1/admin/search/reindex` for
//!   every tenant the index knows (`inboxctl search`).
//!
//! A query the search service cannot read is a 400 whose `details.column` says where the
//! problem starts (1-based, in characters); search down is a 503, never a 404 (the web
//! inbox's palette reads 404 as "this server has no search").

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::search::v1 as pb;
use inbox_service::Role;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ErrorBody, GatewayError};
use super::present::search::{
    ConversationPageJson, CustomerPageJson, IndexStatusJson, ReindexJson, TopQuestionsJson, conversation_page,
    customer_page, index_status, top_questions,
};
use super::request::{QueryParams, query, uuid_in_path};
use super::state::AppState;
use crate::auth::{Authenticated, Principal};

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(search_conversations))
        .routes(routes!(search_customers))
        .routes(routes!(get_top_questions))
        .routes(routes!(get_index_status))
        .routes(routes!(reindex))
        .routes(routes!(admin_get_index_status))
        .routes(routes!(admin_reindex))
        .routes(routes!(admin_reindex_every_tenant))
}

/// Longest query the gateway passes on, in characters (the search service reads at most 512
/// and says so at its column; beyond this the text is not even sent).
pub const MAX_QUERY_CHARS: usize = 1_000;
/// Results per page at most.
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ConversationQuery {
    /// The query (docs/search.md), e.g. `"refund request" phone:+1 555 123 4567 status:open`;
    /// empty or absent: every conversation the caller may see, most recent first.
    #[serde(default)]
    #[param(max_length = 1000)]
    q: Option<String>,
    /// relevance (default) or recent.
    #[serde(default)]
    #[param(pattern = "^(relevance|recent)$")]
    order: Option<String>,
    /// Conversations per page, 1 to 100 (default 20).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
    /// Also count every matching conversation by status and channel (ask on the first page).
    #[serde(default)]
    facets: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CustomerQuery {
    /// Words, phrases, `name:`, `phone:`, `email:`, `id:` (docs/search.md); empty: the most
    /// recently changed customers.
    #[serde(default)]
    #[param(max_length = 1000)]
    q: Option<String>,
    /// Customers per page, 1 to 100 (default 20).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct QuestionsQuery {
    /// 24h, 7d (default), 30d or 90d, ending now.
    #[serde(default)]
    #[param(pattern = "^(24h|7d|30d|90d)$")]
    period: Option<String>,
    /// Groups, 1 to 100 (default 20).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// The refusal of a query too long to pass on, which search is not asked about.
fn too_long(q: &str) -> Option<Response> {
    (q.chars().count() > MAX_QUERY_CHARS).then(|| {
        let refused = PublicError::invalid_argument(format!("q has at most {MAX_QUERY_CHARS} characters"));
        with_column(&refused, MAX_QUERY_CHARS + 1)
    })
}

fn limit_of(limit: Option<u32>) -> Result<u32, PublicError> {
    match limit {
        None => Ok(0),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(PublicError::invalid_argument(format!("limit must be between 1 and {MAX_LIMIT}, not {n}"))),
    }
}

fn order_named(name: Option<&str>) -> Result<pb::SearchOrder, PublicError> {
    match name.unwrap_or("relevance") {
        "relevance" => Ok(pb::SearchOrder::Relevance),
        "recent" => Ok(pb::SearchOrder::Recent),
        other => Err(PublicError::invalid_argument(format!("order must be relevance or recent, not {other:?}"))),
    }
}

/// A 400 with where the query goes wrong: `{"error": {..., "details": {"column": N}}}`.
fn with_column(refused: &PublicError, column: usize) -> Response {
    let details = Map::from_iter([("column".to_owned(), Value::from(column))]);
    (refused.code.http_status(), Json(ErrorBody::with_details(refused, details))).into_response()
}

/// The column of a refusal the search service wrote as `query column N: ...`.
fn column_of(refused: &PublicError) -> Option<usize> {
    if refused.code != ErrorCode::InvalidArgument {
        return None;
    }
    let rest = refused.message.strip_prefix("query column ")?;
    rest.split_once(':')?.0.parse().ok()
}

/// The answer to a failed search call: a bad query with its column, anything else on the one
/// error path (search down: 503).
fn refusal(status: tonic::Status) -> Response {
    let public = PublicError::from_status(&status);
    match column_of(&public) {
        Some(column) => with_column(&public, column),
        None => GatewayError::Upstream(status).into_response(),
    }
}

/// The conversations the caller may see that match the query, best match first (or most
/// recent first), each with the fragments that matched.
#[utoipa::path(get, path = "/v1/search", tag = "search", operation_id = "search_conversations",
    params(ConversationQuery),
    responses((status = 200, description = "A page of conversations found", body = ConversationPageJson),
        (status = 400, description = "invalid_argument; a query the search service cannot read has `details.column` \
            (1-based, in characters) where the problem starts", body = ErrorBody)))]
async fn search_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    params: QueryParams<ConversationQuery>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let params = query(params)?;
    let text = params.q.unwrap_or_default();
    if let Some(refused) = too_long(&text) {
        return Ok(refused);
    }
    let request = pb::SearchConversationsRequest {
        query: text,
        order: order_named(params.order.as_deref())? as i32,
        limit: limit_of(params.limit)?,
        cursor: params.cursor.unwrap_or_default(),
        with_facets: params.facets.unwrap_or(false),
        time_zone: String::new(),
    };
    match state.search.clone().search_conversations(ctx.request(request, &state.service_token)?).await {
        Ok(found) => Ok(Json(conversation_page(&found.into_inner())).into_response()),
        Err(refused) => Ok(refusal(refused)),
    }
}

/// The tenant's customers that match the query (by name, phone, email, id, custom attributes).
#[utoipa::path(get, path = "/v1/search/customers", tag = "search", operation_id = "search_customers",
    params(CustomerQuery),
    responses((status = 200, description = "A page of customers found", body = CustomerPageJson),
        (status = 400, description = "invalid_argument; a query the search service cannot read has `details.column` \
            (1-based, in characters) where the problem starts", body = ErrorBody)))]
async fn search_customers(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    params: QueryParams<CustomerQuery>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let params = query(params)?;
    let text = params.q.unwrap_or_default();
    if let Some(refused) = too_long(&text) {
        return Ok(refused);
    }
    let request = pb::SearchCustomersRequest {
        query: text,
        limit: limit_of(params.limit)?,
        cursor: params.cursor.unwrap_or_default(),
    };
    match state.search.clone().search_customers(ctx.request(request, &state.service_token)?).await {
        Ok(found) => Ok(Json(customer_page(&found.into_inner())).into_response()),
        Err(refused) => Ok(refusal(refused)),
    }
}

/// What customers asked most in the period: their first messages grouped by shared words,
/// among the conversations the caller may see (supervisors and admins).
#[utoipa::path(get, path = "/v1/search/top-questions", tag = "search", operation_id = "top_questions",
    params(QuestionsQuery),
    responses((status = 200, description = "The most frequent questions", body = TopQuestionsJson)))]
async fn get_top_questions(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    params: QueryParams<QuestionsQuery>,
) -> Result<Json<TopQuestionsJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    if !matches!(ctx.role, Role::Supervisor | Role::Admin) {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "frequent questions need the supervisor role").into());
    }
    let params = query(params)?;
    let request = pb::TopQuestionsRequest { period: params.period.unwrap_or_default(), limit: limit_of(params.limit)? };
    let found = state.search.clone().top_questions(ctx.request(request, &state.service_token)?).await?;
    Ok(Json(top_questions(&found.into_inner())))
}

/// The caller's tenant, for its admins.
fn own_tenant_as_admin(principal: &Principal) -> Result<inbox_service::CallContext, PublicError> {
    let tenant_id = principal.in_own_tenant()?.tenant_id;
    principal.require_admin_of(tenant_id)
}

/// The index of the search replica that answers, with the tenant's recent rebuilds (admins).
#[utoipa::path(get, path = "/v1/search/status", tag = "search", operation_id = "search_index_status",
    responses((status = 200, description = "The index", body = IndexStatusJson)))]
async fn get_index_status(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<IndexStatusJson>, GatewayError> {
    let state = state.get()?;
    let ctx = own_tenant_as_admin(&principal)?;
    let request = ctx.request(pb::GetIndexStatusRequest {}, &state.service_token)?;
    Ok(Json(index_status(&state.search.clone().get_index_status(request).await?.into_inner())))
}

/// Rebuilds the tenant's search index from the conversation service while live events keep
/// flowing; every search replica rebuilds its copy (admins). Follow it with the status.
#[utoipa::path(post, path = "/v1/search/reindex", tag = "search", operation_id = "search_reindex",
    responses((status = 202, description = "The rebuild is requested", body = ReindexJson)))]
async fn reindex(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<(axum::http::StatusCode, Json<ReindexJson>), GatewayError> {
    let state = state.get()?;
    let ctx = own_tenant_as_admin(&principal)?;
    let request = ctx.request(pb::ReindexRequest { all_tenants: false }, &state.service_token)?;
    let started = state.search.clone().reindex(request).await?.into_inner();
    Ok((axum::http::StatusCode::ACCEPTED, Json(ReindexJson { tenant_ids: started.tenant_ids })))
}

/// A tenant's search index on the replica that answers (its admins and the operator).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/search/status", tag = "admin",
    operation_id = "admin_search_index_status",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The index", body = IndexStatusJson)))]
async fn admin_get_index_status(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<IndexStatusJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::GetIndexStatusRequest {}, &state.service_token)?;
    let mut status = index_status(&state.search.clone().get_index_status(request).await?.into_inner());
    // The operator is shown every tenant's rebuilds by the search service; this route is one tenant's.
    status.rebuilds.retain(|r| r.tenant_id == tenant_id);
    Ok(Json(status))
}

/// Rebuilds a tenant's search index (its admins and the operator; `inboxctl search reindex
/// --tenant`).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/search/reindex", tag = "admin",
    operation_id = "admin_search_reindex",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 202, description = "The rebuild is requested", body = ReindexJson)))]
async fn admin_reindex(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<ReindexJson>), GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::ReindexRequest { all_tenants: false }, &state.service_token)?;
    let started = state.search.clone().reindex(request).await?.into_inner();
    Ok((axum::http::StatusCode::ACCEPTED, Json(ReindexJson { tenant_ids: started.tenant_ids })))
}

/// Rebuilds the search index of every tenant it knows (the operator; `inboxctl search
/// reindex`).
#[utoipa::path(post, path = "/v1/admin/search/reindex", tag = "admin",
    operation_id = "admin_search_reindex_every_tenant",
    responses((status = 202, description = "The rebuilds are requested", body = ReindexJson)))]
async fn admin_reindex_every_tenant(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<(axum::http::StatusCode, Json<ReindexJson>), GatewayError> {
    let state = state.get()?;
    if principal != Principal::Operator {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "reindexing every tenant is for the operator").into());
    }
    // The operator acts in no tenant; the search service adds the call's tenant to those it
    // rebuilds, so the nil tenant (which has nothing) is left out of the answer.
    let ctx = principal.acting_in(Uuid::nil())?;
    let request = ctx.request(pb::ReindexRequest { all_tenants: true }, &state.service_token)?;
    let started = state.search.clone().reindex(request).await?.into_inner();
    let nil = Uuid::nil().to_string();
    let tenant_ids = started.tenant_ids.into_iter().filter(|t| *t != nil).collect();
    Ok((axum::http::StatusCode::ACCEPTED, Json(ReindexJson { tenant_ids })))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;

    async fn answer(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_query_search_cannot_read_is_a_400_with_its_column() {
        let bad = PublicError::invalid_argument("query column 8: unknown operator statu:").to_status();
        let (status, body) = answer(refusal(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"error": {"code": "invalid_argument", "message": "query column 8: unknown operator statu:",
                "details": {"column": 8}}})
        );
        let (status, body) = answer(refusal(tonic::Status::invalid_argument("limit must be between 1 and 100"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].get("details").is_none(), "no column to give: {body}");
    }

    #[tokio::test]
    async fn search_down_is_a_503_never_a_404() {
        let (status, body) = answer(refusal(tonic::Status::unavailable("tcp connect error"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "unavailable");
    }

    #[tokio::test]
    async fn a_query_over_a_thousand_characters_is_refused_before_search_is_asked() {
        assert!(too_long(&"é".repeat(MAX_QUERY_CHARS)).is_none(), "characters, not bytes");
        assert!(too_long("").is_none());
        let (status, body) = answer(too_long(&"a".repeat(MAX_QUERY_CHARS + 1)).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"], json!({"column": 1001}));
    }

    #[test]
    fn limits_run_from_1_to_100_and_orders_are_named() {
        assert_eq!(limit_of(None).unwrap(), 0, "the service's default");
        assert_eq!(limit_of(Some(1)).unwrap(), 1);
        assert_eq!(limit_of(Some(100)).unwrap(), 100);
        for bad in [0, 101, u32::MAX] {
            assert_eq!(limit_of(Some(bad)).unwrap_err().code, ErrorCode::InvalidArgument, "{bad}");
        }
        assert_eq!(order_named(None).unwrap(), pb::SearchOrder::Relevance);
        assert_eq!(order_named(Some("recent")).unwrap(), pb::SearchOrder::Recent);
        assert_eq!(order_named(Some("newest")).unwrap_err().code, ErrorCode::InvalidArgument);
    }
}
