//! Response templates: `GET|POST /v1/templates`, `GET|PATCH|DELETE /v1/templates/{id}`,
//! `POST /v1/templates/{id}/render`, `POST /v1/conversations/{id}/template-messages`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ErrorBody, GatewayError};
use super::present::message::{SentJson, refusal_with_details, sent_reply};
use super::present::template::TemplateJson;
use super::present::{Items, items};
use super::request::{JsonBody, QueryParams, body, idempotency_key, query};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, delete_template))
        .routes(routes!(render_template))
        .routes(routes!(send_template_message))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Words of the name or body.
    #[serde(default)]
    q: String,
    #[serde(default)]
    #[param(maximum = 50)]
    limit: Option<u32>,
}

/// The tenant's templates, or those matching `q`.
#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    params(SearchQuery),
    responses((status = 200, description = "The templates", body = Items<TemplateJson>)))]
async fn list_templates(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    search: QueryParams<SearchQuery>,
) -> Result<Json<Items<TemplateJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let search = query(search)?;
    let request = ctx.request(
        pb::ListTemplatesRequest { query: search.q, limit: search.limit.unwrap_or(0) },
        &state.service_token,
    )?;
    let listed = state.templates.clone().list_templates(request).await?.into_inner();
    Ok(Json(items(listed.templates.iter().map(TemplateJson::from))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTemplate {
    name: String,
    body: String,
}

/// 201 when created; 200 when an identical template existed (a retried create).
#[utoipa::path(post, path = "/v1/templates", tag = "templates",
    request_body = NewTemplate,
    responses(
        (status = 201, description = "Created", body = TemplateJson),
        (status = 200, description = "An identical template existed", body = TemplateJson),
    ))]
async fn create_template(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewTemplate>,
) -> Result<(StatusCode, Json<TemplateJson>), GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request = ctx.request(pb::CreateTemplateRequest { name: new.name, body: new.body }, &state.service_token)?;
    let created = state.templates.clone().create_template(request).await?.into_inner();
    let template = created.template.as_ref().ok_or_else(PublicError::internal)?;
    let status = if created.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(TemplateJson::from(template))))
}

/// One template.
#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "The template")),
    responses((status = 200, description = "The template", body = TemplateJson)))]
async fn get_template(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<TemplateJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetTemplateRequest { template_id: id }, &state.service_token)?;
    let template = state.templates.clone().get_template(request).await?.into_inner();
    Ok(Json(TemplateJson::from(&template)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TemplateChange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

/// Renames a template or rewrites its body.
#[utoipa::path(patch, path = "/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "The template")),
    request_body = TemplateChange,
    responses((status = 200, description = "The template", body = TemplateJson)))]
async fn update_template(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    change: JsonBody<TemplateChange>,
) -> Result<Json<TemplateJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let change = body(change)?;
    let request = ctx.request(
        pb::UpdateTemplateRequest { template_id: id, name: change.name, body: change.body },
        &state.service_token,
    )?;
    let template = state.templates.clone().update_template(request).await?.into_inner();
    Ok(Json(TemplateJson::from(&template)))
}

/// 204 whether or not the template still existed, so a retried delete succeeds.
#[utoipa::path(delete, path = "/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "The template")),
    responses((status = 204, description = "Gone")))]
async fn delete_template(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::DeleteTemplateRequest { template_id: id }, &state.service_token)?;
    state.templates.clone().delete_template(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RenderInput {
    conversation_id: String,
    #[serde(default)]
    variables: HashMap<String, String>,
}

/// The template's text for a conversation, its variables filled in.
#[utoipa::path(post, path = "/v1/templates/{id}/render", tag = "templates",
    params(("id" = String, Path, description = "The template")),
    request_body = RenderInput,
    responses((status = 200, description = "The text", body = Rendered)))]
async fn render_template(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    input: JsonBody<RenderInput>,
) -> Result<Json<Rendered>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let input = body(input)?;
    let agent_name = state.name_of(&principal).await?;
    let request = ctx.request(
        pb::RenderTemplateRequest {
            template_id: id,
            conversation_id: input.conversation_id,
            agent_name,
            variables: input.variables,
        },
        &state.service_token,
    )?;
    let rendered = state.templates.clone().render_template(request).await?.into_inner();
    Ok(Json(Rendered { text: rendered.text }))
}

/// A rendered template.
#[derive(Debug, Serialize, ToSchema)]
struct Rendered {
    text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTemplateMessage {
    template_id: String,
    #[serde(default)]
    variables: HashMap<String, String>,
    /// Or the `Idempotency-Key` header.
    #[serde(default)]
    idempotency_key: Option<String>,
    /// The send guard, as on `POST /v1/conversations/{id}/messages`.
    #[serde(default)]
    last_seen_message_id: Option<String>,
    #[serde(default)]
    force: bool,
}

/// Answers like `POST /v1/conversations/{id}/messages`: 201 when sent, 200 when replayed, 409
/// with `details.newer_message_id` when the send guard finds someone else acted.
#[utoipa::path(post, path = "/v1/conversations/{id}/template-messages", tag = "templates",
    params(("id" = String, Path, description = "The conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = "Or the body's `idempotency_key`")),
    request_body = NewTemplateMessage,
    responses(
        (status = 201, description = "Sent", body = SentJson),
        (status = 200, description = "The idempotency key was seen: the earlier send, `replayed`", body = SentJson),
        (status = 409, description = "conflict: someone acted after `last_seen_message_id` \
            (`details.newer_message_id`); send again with `force`", body = ErrorBody),
    ))]
async fn send_template_message(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    new: JsonBody<NewTemplateMessage>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let key = idempotency_key(new.idempotency_key, &headers)?;
    let agent_name = state.name_of(&principal).await?;
    let request = ctx.request(
        pb::SendTemplateMessageRequest {
            template_id: new.template_id,
            conversation_id: id,
            agent_name,
            variables: new.variables,
            idempotency_key: key,
            guard: Some(pb::SendGuard {
                last_seen_message_id: new.last_seen_message_id.unwrap_or_default(),
                force: new.force,
            }),
        },
        &state.service_token,
    )?;
    match state.templates.clone().send_template_message(request).await {
        Ok(sent) => Ok(sent_reply(&sent.into_inner()).into_response()),
        Err(refused) => {
            refusal_with_details(&refused).map(IntoResponse::into_response).ok_or(GatewayError::Upstream(refused))
        }
    }
}
