//! `POST /v1/admin/tenants/{tenant_id}/channels/{whatsapp|webchat|twilio}/replay`: process the
//! tenant's archived webhooks again (idempotent). Channel-ingest archives every channel's
//! payloads alike, so one handler serves every channel's route.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use inbox_proto::ingest::v1 as ingest;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::Value;

use super::admin_of;
use crate::api::error::GatewayError;
use crate::api::present::channel::replay;
use crate::api::request::{JsonBody, body};
use crate::api::state::AppState;
use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default)]
    raw_payload_ids: Vec<String>,
    /// RFC 3339.
    #[serde(default)]
    received_from: Option<DateTime<Utc>>,
    #[serde(default)]
    received_until: Option<DateTime<Utc>>,
    #[serde(default)]
    only_unpublished: bool,
}

pub async fn replay_archived_webhooks(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    request: JsonBody<ReplayRequest>,
) -> Result<Json<Value>, GatewayError> {
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
