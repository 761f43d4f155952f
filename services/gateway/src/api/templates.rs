//! Response templates: `GET|POST /v1/templates`, `GET|PATCH|DELETE /v1/templates/{id}`,
//! `POST /v1/templates/{id}/render`, `POST /v1/conversations/{id}/template-messages`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::GatewayError;
use super::present::items;
use super::present::message::{refusal_with_details, sent_reply};
use super::present::template::TemplateJson;
use super::request::{JsonBody, body, idempotency_key};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/templates", get(list_templates).post(create_template))
        .route("/v1/templates/{id}", get(get_template).patch(update_template).delete(delete_template))
        .route("/v1/templates/{id}/render", post(render_template))
        .route("/v1/conversations/{id}/template-messages", post(send_template_message))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    limit: Option<u32>,
}

async fn list_templates(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Query(search): Query<SearchQuery>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(
        pb::ListTemplatesRequest { query: search.q, limit: search.limit.unwrap_or(0) },
        &state.service_token,
    )?;
    let listed = state.templates.clone().list_templates(request).await?.into_inner();
    Ok(Json(items(listed.templates.iter().map(TemplateJson::from))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTemplate {
    name: String,
    body: String,
}

/// 201 when created; 200 when an identical template existed (a retried create).
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateChange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderInput {
    conversation_id: String,
    #[serde(default)]
    variables: HashMap<String, String>,
}

async fn render_template(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    input: JsonBody<RenderInput>,
) -> Result<Json<Value>, GatewayError> {
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
    Ok(Json(json!({"text": rendered.text})))
}

#[derive(Debug, Deserialize)]
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
async fn send_template_message(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    new: JsonBody<NewTemplateMessage>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
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
        Ok(sent) => Ok(sent_reply(&sent.into_inner())),
        Err(refused) => refusal_with_details(&refused).ok_or(GatewayError::Upstream(refused)),
    }
}
