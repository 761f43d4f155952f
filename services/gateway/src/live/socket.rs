//! `GET /v1/stream`: an agent's live WebSocket. The first frame is `{"type":"ready"}`; then
//! every event of the agent's tenant. A socket that falls behind gets `{"type":"resync"}` and
//! should refetch over REST. While connected, the agent's presence is kept in Redis, and their
//! availability in routing: online when the socket opens (refreshed every 30 s, expiring 90 s
//! after the last refresh, so a vanished client goes offline by itself), whatever the client
//! sets with `{"type":"presence","availability":"online|away|offline"}`, offline when it closes.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use inbox_proto::routing::v1 as routing;
use inbox_service::http_edge::{ApiError, WhenReady};
use inbox_service::{CallContext, Role};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::api::names::availability_from_name;
use crate::api::state::AppState;
use crate::auth::{Authenticated, Principal};

const PRESENCE_TTL_SECONDS: u64 = 90;
const PRESENCE_REFRESH: Duration = Duration::from_secs(30);

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new().route("/v1/stream", get(open_stream))
}

async fn open_stream(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let state = state.get()?.clone();
    let ctx = principal.in_own_tenant()?;
    let Principal::User { user_id, .. } = principal else { unreachable!("in_own_tenant accepts users only") };
    Ok(upgrade.on_upgrade(move |socket| stream_events(socket, state, ctx, user_id)))
}

async fn stream_events(mut socket: WebSocket, state: AppState, ctx: CallContext, user_id: Uuid) {
    let tenant_id = ctx.tenant_id;
    let mut events = state.live.subscribe(tenant_id);
    let presence_key = format!("{}presence:{tenant_id}:{user_id}", state.redis_prefix);
    mark_present(&state, &presence_key).await;
    // People are routed to; the AI account is not.
    let routed = matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin);
    let mut availability = routing::Availability::Online;
    if routed {
        set_availability(&state, &ctx, availability).await;
    }
    tracing::info!(%tenant_id, %user_id, "live stream opened");
    if socket.send(Message::Text(r#"{"type":"ready"}"#.into())).await.is_err() {
        return;
    }
    let mut refresh = tokio::time::interval(PRESENCE_REFRESH);
    loop {
        tokio::select! {
            event = events.recv() => {
                let frame = match event {
                    Ok(frame) => frame.to_string(),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(%tenant_id, missed, "live stream lagged; asking client to resync");
                        r#"{"type":"resync"}"#.to_owned()
                    }
                    Err(RecvError::Closed) => break,
                };
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(Message::Text(text))) => {
                    if let Some(chosen) = presence_frame(&text)
                        && routed
                    {
                        availability = chosen;
                        set_availability(&state, &ctx, availability).await;
                    }
                }
                Some(Ok(_)) => {}
            },
            _ = refresh.tick() => {
                mark_present(&state, &presence_key).await;
                if routed && availability != routing::Availability::Offline {
                    set_availability(&state, &ctx, availability).await;
                }
            }
        }
    }
    if routed {
        set_availability(&state, &ctx, routing::Availability::Offline).await;
    }
    let mut redis = state.redis.clone();
    let _: Result<(), _> = redis::cmd("DEL").arg(&presence_key).query_async(&mut redis).await;
    tracing::info!(%tenant_id, %user_id, "live stream closed");
}

/// Presence expires by itself, so a client that vanishes goes offline within the TTL.
async fn mark_present(state: &AppState, key: &str) {
    let mut redis = state.redis.clone();
    let set: Result<(), _> =
        redis::cmd("SET").arg(key).arg("online").arg("EX").arg(PRESENCE_TTL_SECONDS).query_async(&mut redis).await;
    if let Err(e) = set {
        tracing::warn!(error = %e, "presence update failed");
    }
}

/// The availability a client frame `{"type":"presence","availability":"away"}` asks for.
fn presence_frame(text: &str) -> Option<routing::Availability> {
    let frame: serde_json::Value = serde_json::from_str(text).ok()?;
    if frame["type"] != "presence" {
        return None;
    }
    availability_from_name(frame["availability"].as_str()?)
}

/// Tells routing the person's availability, holding for the presence TTL unless refreshed.
async fn set_availability(state: &AppState, ctx: &CallContext, availability: routing::Availability) {
    let message = routing::SetAvailabilityRequest {
        agent_id: String::new(),
        availability: availability as i32,
        ttl_seconds: PRESENCE_TTL_SECONDS as u32,
    };
    let request = match ctx.request(message, &state.service_token) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "availability request not built");
            return;
        }
    };
    if let Err(status) = state.routing.clone().set_availability(request).await {
        tracing::warn!(code = ?status.code(), message = status.message(), "availability not updated in routing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_frame_names_an_availability_and_anything_else_is_ignored() {
        assert_eq!(presence_frame(r#"{"type":"presence","availability":"away"}"#), Some(routing::Availability::Away));
        assert_eq!(presence_frame(r#"{"type":"presence","availability":"busy"}"#), None);
        assert_eq!(presence_frame(r#"{"type":"typing"}"#), None);
        assert_eq!(presence_frame("not json"), None);
    }
}
