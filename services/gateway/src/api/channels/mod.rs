//! `/v1/admin/tenants/{tenant_id}/channels/...`: the tenant's channel accounts, kept by
//! channel-ingest (the operator or the tenant's admins), and the replay of archived webhooks.

mod replay;
mod twilio;
mod webchat;
mod whatsapp;

use inbox_errors::PublicError;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::request::uuid_in_path;
use super::state::AppState;
use crate::auth::Principal;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .merge(whatsapp::routes())
        .merge(webchat::routes())
        .merge(twilio::routes())
        .routes(routes!(replay::replay_whatsapp_webhooks))
        .routes(routes!(replay::replay_webchat_webhooks))
        .routes(routes!(replay::replay_twilio_webhooks))
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
