//! `POST /v1/admin/tenants/{tenant_id}/channels/{whatsapp|webchat|twilio}/replay`: process the
//! tenant's archived webhooks again (idempotent). Channel-ingest archives every channel's
//! payloads alike, so every channel's route does the same.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use inbox_proto::ingest::v1 as ingest;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::ToSchema;

use super::admin_of;
use crate::api::error::GatewayError;
use crate::api::present::channel::{ReplayJson, replay};
use crate::api::request::{JsonBody, body};
use crate::api::state::AppState;
use crate::auth::Authenticated;

/// Which archived webhooks to process again: by id, or those received in a window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookReplayRequest)]
pub struct ReplayRequest {
    #[serde(default)]
    raw_payload_ids: Vec<String>,
    /// RFC 3339.
    #[serde(default)]
    received_from: Option<DateTime<Utc>>,
    /// RFC 3339.
    #[serde(default)]
    received_until: Option<DateTime<Utc>>,
    /// Only payloads whose messages were never published.
    #[serde(default)]
    only_unpublished: bool,
}

/// Processes the tenant's archived WhatsApp webhooks again.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/channels/whatsapp/replay", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = ReplayRequest,
    responses((status = 200, description = "What was processed again", body = ReplayJson)))]
pub async fn replay_whatsapp_webhooks(
    state: State<WhenReady<AppState>>,
    caller: Authenticated,
    tenant_id: Path<String>,
    request: JsonBody<ReplayRequest>,
) -> Result<Json<ReplayJson>, GatewayError> {
    replay_archived_webhooks(state, caller, tenant_id, request).await
}

/// Processes the tenant's archived web chat events again.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/channels/webchat/replay", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = ReplayRequest,
    responses((status = 200, description = "What was processed again", body = ReplayJson)))]
pub async fn replay_webchat_webhooks(
    state: State<WhenReady<AppState>>,
    caller: Authenticated,
    tenant_id: Path<String>,
    request: JsonBody<ReplayRequest>,
) -> Result<Json<ReplayJson>, GatewayError> {
    replay_archived_webhooks(state, caller, tenant_id, request).await
}

/// Processes the tenant's archived Twilio webhooks again.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/channels/twilio/replay", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = ReplayRequest,
    responses((status = 200, description = "What was processed again", body = ReplayJson)))]
pub async fn replay_twilio_webhooks(
    state: State<WhenReady<AppState>>,
    caller: Authenticated,
    tenant_id: Path<String>,
    request: JsonBody<ReplayRequest>,
) -> Result<Json<ReplayJson>, GatewayError> {
    replay_archived_webhooks(state, caller, tenant_id, request).await
}

async fn replay_archived_webhooks(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    request: JsonBody<ReplayRequest>,
) -> Result<Json<ReplayJson>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of(&principal, &tenant_id)?;
    let r = body(request)?;
    let request = ctx.request(
        ingest::ReplayRawPayloadsRequest {
            raw_payload_ids: r.raw_payload_ids,
            received_from: r.received_from.map(inbox_proto::timestamp_from),
            received_until: r.received_until.map(inbox_proto::timestamp_from),
            only_unpublished: r.only_unpublished,
        },
        &state.service_token,
    )?;
    let answer = state.channel_deliveries.clone().replay_raw_payloads(request).await?.into_inner();
    Ok(Json(replay(&answer)))
}
