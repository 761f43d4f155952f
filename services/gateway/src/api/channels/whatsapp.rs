//! `POST|GET /v1/admin/tenants/{tenant_id}/channels/whatsapp`: connect a WhatsApp Cloud API
//! number, list the tenant's numbers (no secrets).

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
use crate::api::present::channel::{WhatsAppAccountJson, whatsapp_account};
use crate::api::present::{Items, items};
use crate::api::request::{JsonBody, body};
use crate::api::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(connect_whatsapp, list_whatsapp))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWhatsApp {
    phone_number_id: String,
    #[serde(default)]
    display_phone_number: String,
    app_secret: String,
    verify_token: String,
    #[serde(default)]
    access_token: String,
    /// Meta's WhatsApp Business Account id, so webhooks of other fields can be acknowledged.
    #[serde(default)]
    business_account_id: String,
}

/// Connects a WhatsApp Cloud API number (or reconfigures it).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/channels/whatsapp", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewWhatsApp,
    responses((status = 200, description = "The number (no secrets)", body = WhatsAppAccountJson)))]
async fn connect_whatsapp(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewWhatsApp>,
) -> Result<Json<WhatsAppAccountJson>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of_existing_tenant(state, &principal, &tenant_id).await?;
    let new = body(new)?;
    let request = ctx.request(
        ingest::CreateWhatsAppAccountRequest {
            phone_number_id: new.phone_number_id,
            display_phone_number: new.display_phone_number,
            app_secret: new.app_secret,
            verify_token: new.verify_token,
            access_token: new.access_token,
            business_account_id: new.business_account_id,
        },
        &state.service_token,
    )?;
    let account = state.channel_accounts.clone().create_whats_app_account(request).await?.into_inner();
    Ok(Json(whatsapp_account(&account)))
}

/// The tenant's WhatsApp numbers (no secrets).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/channels/whatsapp", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The numbers", body = Items<WhatsAppAccountJson>)))]
async fn list_whatsapp(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Items<WhatsAppAccountJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of(&principal, &tenant_id)?;
    let request = ctx.request(ingest::ListWhatsAppAccountsRequest {}, &state.service_token)?;
    let accounts = state.channel_accounts.clone().list_whats_app_accounts(request).await?.into_inner();
    Ok(Json(items(accounts.accounts.iter().map(whatsapp_account))))
}
