//! `GET /v1/conversations/{id}/viewers`: who is viewing a conversation now
//! (`{"conversation_id", "viewers": [{"agent_id", "name", "since"}]}`), for clients without the
//! live socket. Only for those who may see the conversation.

use axum::Json;
use axum::extract::{Path, State};
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_service::Visibility;
use inbox_service::http_edge::WhenReady;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present;
use super::present::conversation::ViewersJson;
use super::request::uuid_in_path;
use super::state::AppState;
use crate::auth::Authenticated;
use crate::live::viewers::viewers_of;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(conversation_viewers))
}

/// Who is viewing the conversation now.
#[utoipa::path(get, path = "/v1/conversations/{id}/viewers", tag = "conversations",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The viewers, the earliest first", body = ViewersJson)))]
async fn conversation_viewers(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ViewersJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let conversation_id = uuid_in_path(&id, "conversation")?;
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation = state.conversations.clone().get_conversation(request).await?.into_inner();
    // The conversation service applies the caller's visibility too; the edge checks it again
    // with the conversation's place, as the live stream does.
    let place = crate::live::directory::Whereabouts::of(&conversation.team_id, &conversation.assignee_id);
    if !Visibility::current().allows(place.team_id, place.assignee_id) {
        return Err(PublicError::not_found("conversation not found").into());
    }
    let marks = state.live.viewers.marks(ctx.tenant_id, conversation_id).await.map_err(|e| {
        tracing::warn!(error = %e, "viewers not read");
        PublicError::unavailable("temporarily unavailable; retry")
    })?;
    let (viewers, _) = viewers_of(&marks);
    Ok(Json(present::conversation::viewers(&conversation.id, &viewers)))
}
