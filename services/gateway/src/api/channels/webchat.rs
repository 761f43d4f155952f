//! Web chat widgets: `POST|GET /v1/admin/tenants/{tenant_id}/channels/webchat` (a new widget
//! with its public key; the tenant's widgets), `PUT|DELETE .../channels/webchat/{widget_id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{admin_of, admin_of_existing_tenant};
use crate::api::error::GatewayError;
use crate::api::present::channel::{WebchatWidgetJson, webchat_widget};
use crate::api::present::{Items, items};
use crate::api::request::{JsonBody, body};
use crate::api::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(create_webchat_widget, list_webchat_widgets))
        .routes(routes!(update_webchat_widget, delete_webchat_widget))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebchatWidget {
    name: String,
    /// The sites that may embed the widget (`https://shop.example`).
    allowed_origins: Vec<String>,
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    color: String,
}

impl NewWebchatWidget {
    fn into_proto(self) -> ingest::CreateWebchatWidgetRequest {
        ingest::CreateWebchatWidgetRequest {
            name: self.name,
            allowed_origins: self.allowed_origins,
            greeting: self.greeting,
            color: self.color,
        }
    }
}

/// `POST /v1/admin/tenants/{id}/channels/webchat`: a new widget with its public key.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/channels/webchat", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewWebchatWidget,
    responses((status = 201, description = "The widget", body = WebchatWidgetJson)))]
async fn create_webchat_widget(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewWebchatWidget>,
) -> Result<(StatusCode, Json<WebchatWidgetJson>), GatewayError> {
    let state = state.get()?;
    let ctx = admin_of_existing_tenant(state, &principal, &tenant_id).await?;
    let new = body(new)?;
    let request = ctx.request(new.into_proto(), &state.service_token)?;
    let widget = state.channel_accounts.clone().create_webchat_widget(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(webchat_widget(&widget))))
}

/// `PUT /v1/admin/tenants/{id}/channels/webchat/{widget_id}`: new name, allowed origins,
/// greeting and colour (the key stays).
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/channels/webchat/{widget_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("widget_id" = String, Path, description = "The widget")),
    request_body = NewWebchatWidget,
    responses((status = 200, description = "The widget", body = WebchatWidgetJson)))]
async fn update_webchat_widget(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, widget_id)): Path<(String, String)>,
    new: JsonBody<NewWebchatWidget>,
) -> Result<Json<WebchatWidgetJson>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of(&principal, &tenant_id)?;
    let settings = body(new)?.into_proto();
    let request =
        ctx.request(ingest::UpdateWebchatWidgetRequest { widget_id, settings: Some(settings) }, &state.service_token)?;
    let widget = state.channel_accounts.clone().update_webchat_widget(request).await?.into_inner();
    Ok(Json(webchat_widget(&widget)))
}

/// The widget a delete removed.
#[derive(Debug, Serialize, ToSchema)]
struct DeletedWidget {
    deleted: WebchatWidgetJson,
}

/// `DELETE /v1/admin/tenants/{id}/channels/webchat/{widget_id}`: the widget stops answering.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/channels/webchat/{widget_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("widget_id" = String, Path, description = "The widget")),
    responses((status = 200, description = "The deleted widget", body = DeletedWidget)))]
async fn delete_webchat_widget(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, widget_id)): Path<(String, String)>,
) -> Result<Json<DeletedWidget>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of(&principal, &tenant_id)?;
    let request = ctx.request(ingest::DeleteWebchatWidgetRequest { widget_id }, &state.service_token)?;
    let widget = state.channel_accounts.clone().delete_webchat_widget(request).await?.into_inner();
    Ok(Json(DeletedWidget { deleted: webchat_widget(&widget) }))
}

/// The tenant's web chat widgets.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/channels/webchat", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The widgets", body = Items<WebchatWidgetJson>)))]
async fn list_webchat_widgets(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Items<WebchatWidgetJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = admin_of(&principal, &tenant_id)?;
    let request = ctx.request(ingest::ListWebchatWidgetsRequest {}, &state.service_token)?;
    let widgets = state.channel_accounts.clone().list_webchat_widgets(request).await?.into_inner();
    Ok(Json(items(widgets.widgets.iter().map(webchat_widget))))
}
