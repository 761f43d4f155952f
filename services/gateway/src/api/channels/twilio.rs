//! Twilio numbers: `POST /v1/admin/tenants/{tenant_id}/channels/twilio` connects or
//! reconfigures a number; `GET` lists the tenant's numbers (no secrets).

use axum::Json;
use axum::extract::{Path, State};
use inbox_proto::ingest::v1 as ingest;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{admin_of, admin_of_existing_tenant};
use crate::api::error::GatewayError;
use crate::api::present::channel::{TwilioAccountJson, twilio_account};
use crate::api::present::{Items, items};
use crate::api::request::{JsonBody, body};
use crate::api::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(connect_twilio, list_twilio))
}

/// No `Debug`: it carries the auth token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTwilio {
    account_sid: String,
    auth_token: String,
    phone_number: String,
    #[serde(default)]
    agent_numbers: Vec<String>,
    #[serde(default)]
    queue_name: String,
    #[serde(default)]
    ring_timeout_seconds: u32,
    #[serde(default = "yes")]
    #[schema(default = true)]
    voicemail: bool,
    #[serde(default)]
    voicemail_greeting: String,
    #[serde(default)]
    voicemail_max_seconds: u32,
    #[serde(default)]
    record_calls: bool,
    #[serde(default)]
    transcribe: bool,
}

fn yes() -> bool {
    true
}

/// Connects or reconfigures a Twilio number.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/channels/twilio", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewTwilio,
    responses((status = 200, description = "The number (no secrets)", body = TwilioAccountJson)))]
async fn connect_twilio(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewTwilio>,
) -> Result<Json<TwilioAccountJson>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of_existing_tenant(state, &principal, &tenant_id).await?;
    let new = body(new)?;
    let request = ctx.request(
        ingest::CreateTwilioAccountRequest {
            account_sid: new.account_sid,
            auth_token: new.auth_token,
            phone_number: new.phone_number,
            config: Some(ingest::TwilioVoiceConfig {
                agent_numbers: new.agent_numbers,
                queue_name: new.queue_name,
                ring_timeout_seconds: new.ring_timeout_seconds,
                voicemail_greeting: new.voicemail_greeting,
                voicemail: new.voicemail,
                record_calls: new.record_calls,
                transcribe: new.transcribe,
                voicemail_max_seconds: new.voicemail_max_seconds,
            }),
        },
        &state.service_token,
    )?;
    let account = state.channel_accounts.clone().create_twilio_account(request).await?.into_inner();
    Ok(Json(twilio_account(&account)))
}

/// The tenant's Twilio numbers (no secrets).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/channels/twilio", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The numbers", body = Items<TwilioAccountJson>)))]
async fn list_twilio(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Items<TwilioAccountJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of(&principal, &tenant_id)?;
    let request = ctx.request(ingest::ListTwilioAccountsRequest {}, &state.service_token)?;
    let accounts = state.channel_accounts.clone().list_twilio_accounts(request).await?.into_inner();
    Ok(Json(items(accounts.accounts.iter().map(twilio_account))))
}
