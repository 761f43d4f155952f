//! `/v1/admin/tenants/{tenant_id}/channels/...`: the tenant's channel accounts, kept by
//! channel-ingest (the operator or the tenant's admins), and the replay of archived webhooks.

mod replay;
mod twilio;
mod webchat;
mod whatsapp;

use axum::Router;
use axum::routing::post;
use inbox_errors::PublicError;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;

use super::error::GatewayError;
use super::request::uuid_in_path;
use super::state::AppState;
use crate::auth::Principal;

pub fn routes() -> Router<WhenReady<AppState>> {
    let replay = post(replay::replay_archived_webhooks);
    Router::new()
        .merge(whatsapp::routes())
        .merge(webchat::routes())
        .merge(twilio::routes())
        .route("/v1/admin/tenants/{tenant_id}/channels/whatsapp/replay", replay.clone())
        .route("/v1/admin/tenants/{tenant_id}/channels/webchat/replay", replay.clone())
        .route("/v1/admin/tenants/{tenant_id}/channels/twilio/replay", replay)
}

/// The call context of an admin (or the operator) acting in the tenant named by the path.
fn admin_of(principal: &Principal, tenant: &str) -> Result<CallContext, PublicError> {
    principal.require_admin_of(uuid_in_path(tenant, "tenant")?)
}

/// The call context of an admin (or the operator) acting in the tenant named by the path, which
/// must exist: what connecting a channel account takes.
async fn admin_of_existing_tenant(
    state: &AppState,
    principal: &Principal,
    tenant: &str,
) -> Result<CallContext, GatewayError> {
    let ctx = admin_of(principal, tenant)?;
    if state.store.tenant(ctx.tenant_id).await?.is_none() {
        return Err(PublicError::not_found("tenant not found").into());
    }
    Ok(ctx)
}
