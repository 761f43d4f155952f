//! `POST /v1/auth/ticket` → `{ticket, expires_in}`: a single-use ticket for the places a
//! browser cannot send the `Authorization` header — the live stream's WebSocket
//! (`/v1/stream?access_token=<ticket>`) and media links
//! (`/v1/conversations/{id}/media/{media_id}?access_token=<ticket>`). Nowhere else does the
//! gateway take a credential from the URL. See [`crate::auth::ticket`].

use axum::Json;
use axum::extract::State;
use inbox_service::http_edge::WhenReady;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(create_ticket))
}

/// A ticket and how long it lives.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Ticket)]
struct TicketJson {
    /// `tk_…`: put it in the URL as `access_token`; it opens one stream or one media file.
    ticket: String,
    /// Seconds the ticket may wait to be used.
    expires_in: u64,
}

/// A single-use ticket for the caller (a person or an API key), for the one request it opens:
/// the live stream's WebSocket upgrade or a media link, where a browser cannot send the header.
/// Used once, within `expires_in` seconds; whoever holds it acts as the caller, so it goes only
/// into a URL the caller opens at once.
#[utoipa::path(post, path = "/v1/auth/ticket", tag = "auth",
    responses((status = 200, description = "The ticket", body = TicketJson)))]
async fn create_ticket(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<TicketJson>, GatewayError> {
    let state = state.get()?;
    let (ticket, expires_in) = state.auth.issue_ticket(&principal).await?;
    Ok(Json(TicketJson { ticket, expires_in }))
}
