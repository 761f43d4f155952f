//! `/v1/admin/tenants/{tenant_id}/...`: what an admin (or the operator) does with credentials.
//!
//! People:
//! - `PUT .../users/{user_id}/password` `{password}`: sets or resets it (at least 12
//!   characters, not the email). 204.
//! - `PATCH .../users/{user_id}` `{disabled: true|false}`: disabling ends every session and
//!   token of the user at once and closes their sockets. The user.
//! - `POST .../users/{user_id}/sessions/revoke`: ends every session and token of the user
//!   (operator-minted ones too). `{revoked_sessions}`.
//!
//! Machines:
//! - `POST .../api-keys` `{name, scope: ai_agent|integration|read_only}` → 201, the key in
//!   `key`, shown this once.
//! - `GET .../api-keys`: every key without its secret, with `last_used_at` (to the minute).
//! - `DELETE .../api-keys/{key_id}`: revokes it at once. 204.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present::Items;
use super::present::account::{ApiKeyJson, UserJson};
use super::request::{JsonBody, body, single_line, uuid_in_path};
use super::state::AppState;
use crate::auth::{Authenticated, KeyScope};

/// Largest body these routes read.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Longest name of an API key.
const MAX_KEY_NAME_CHARS: usize = 100;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(set_password))
        .routes(routes!(change_user))
        .routes(routes!(revoke_sessions))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    /// At least 12 characters, not the email.
    password: String,
}

/// Sets or resets a person's password.
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/users/{user_id}/password", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "The user")),
    request_body = NewPassword,
    responses((status = 204, description = "Set")))]
async fn set_password(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, user_id)): Path<(String, String)>,
    new: JsonBody<NewPassword>,
) -> Result<StatusCode, GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    principal.require_admin_of(tenant_id)?;
    let user_id = uuid_in_path(&user_id, "user")?;
    let new = body(new)?;
    state.auth.set_password(tenant_id, user_id, &new.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserChange {
    /// Disabling ends every session and token of the user at once and closes their sockets.
    disabled: bool,
}

/// Disables or enables a user.
#[utoipa::path(patch, path = "/v1/admin/tenants/{tenant_id}/users/{user_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "The user")),
    request_body = UserChange,
    responses((status = 200, description = "The user", body = UserJson)))]
async fn change_user(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, user_id)): Path<(String, String)>,
    change: JsonBody<UserChange>,
) -> Result<Json<UserJson>, GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    principal.require_admin_of(tenant_id)?;
    let user_id = uuid_in_path(&user_id, "user")?;
    let change = body(change)?;
    if change.disabled && principal.user_id() == Some(user_id) {
        return Err(PublicError::invalid_argument("admins cannot disable themselves").into());
    }
    let user = state
        .auth
        .set_disabled(tenant_id, user_id, change.disabled)
        .await?
        .ok_or_else(|| PublicError::not_found("user not found"))?;
    Ok(Json(UserJson::from(&user)))
}

/// How many sessions a revocation ended.
#[derive(Debug, Serialize, ToSchema)]
struct RevokedSessions {
    revoked_sessions: u64,
}

/// Ends every session and token of a user (operator-minted ones too).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/users/{user_id}/sessions/revoke", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "The user")),
    responses((status = 200, description = "The sessions ended", body = RevokedSessions)))]
async fn revoke_sessions(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, user_id)): Path<(String, String)>,
) -> Result<Json<RevokedSessions>, GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    principal.require_admin_of(tenant_id)?;
    let user_id = uuid_in_path(&user_id, "user")?;
    let ended = state
        .auth
        .revoke_sessions(tenant_id, user_id)
        .await?
        .ok_or_else(|| PublicError::not_found("user not found"))?;
    Ok(Json(RevokedSessions { revoked_sessions: ended }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKeyRequest {
    /// 1 to 100 characters.
    name: String,
    /// ai_agent, integration or read_only.
    #[schema(pattern = "^(ai_agent|integration|read_only)$")]
    scope: String,
}

/// A new API key: the answer's `key` is the only time it is shown.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/api-keys", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewKeyRequest,
    responses((status = 201, description = "The key, with `key`", body = ApiKeyJson)))]
async fn create_key(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewKeyRequest>,
) -> Result<(StatusCode, Json<ApiKeyJson>), GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    principal.require_admin_of(tenant_id)?;
    let new = body(new)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_KEY_NAME_CHARS {
        return Err(PublicError::invalid_argument(format!("name must be 1 to {MAX_KEY_NAME_CHARS} characters")).into());
    }
    single_line(name, "name")?;
    let scope = KeyScope::named(&new.scope)?;
    if state.store.tenant(tenant_id).await?.is_none() {
        return Err(PublicError::not_found("tenant not found").into());
    }
    let (key, text) = state.auth.create_key(tenant_id, name, scope, &principal.name()).await?;
    let mut answer = ApiKeyJson::from(&key);
    answer.key = Some(text);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The tenant's keys, revoked ones included, without their secrets.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/api-keys", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The keys", body = Items<ApiKeyJson>)))]
async fn list_keys(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Items<ApiKeyJson>>, GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    principal.require_admin_of(tenant_id)?;
    let keys = state.store.api_keys(tenant_id).await?;
    Ok(Json(super::present::items(keys.iter().map(ApiKeyJson::from))))
}

/// Revokes a key at once.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/api-keys/{key_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("key_id" = String, Path, description = "The key")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_key(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    principal.require_admin_of(tenant_id)?;
    let key_id = uuid_in_path(&key_id, "key")?;
    match state.auth.revoke_key(tenant_id, key_id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(PublicError::new(ErrorCode::NotFound, "key not found").into()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::Value;
    use uuid::Uuid;

    use super::*;
    use crate::store::api_keys::ApiKey;

    #[test]
    fn a_listed_key_shows_its_role_and_never_a_secret() {
        let key = ApiKey {
            id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            name: "Order bot".into(),
            scope: "ai_agent".into(),
            created_by: "operator".into(),
            created_at: Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap(),
            last_used_at: None,
            revoked_at: None,
        };
        let json = serde_json::to_value(ApiKeyJson::from(&key)).unwrap();
        assert_eq!(json["role"], "ai");
        assert_eq!(json["scope"], "ai_agent");
        assert!(json.get("key").is_none() && json.get("secret_hash").is_none());
        assert_eq!(json["last_used_at"], Value::Null);
    }
}
