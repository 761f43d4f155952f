//! `GET /v1/stream`: an agent's live WebSocket. The first frame is `{"type":"ready"}`; then
//! every event of the agent's tenant. A socket that falls behind gets `{"type":"resync"}` and
//! should refetch over REST. While connected, the agent's presence is kept in Redis.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use inbox_service::http_edge::{ApiError, WhenReady};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::api::AppState;
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
    Ok(upgrade.on_upgrade(move |socket| stream_events(socket, state, ctx.tenant_id, user_id)))
}

async fn stream_events(mut socket: WebSocket, state: AppState, tenant_id: Uuid, user_id: Uuid) {
    let mut events = state.live.subscribe(tenant_id);
    let presence_key = format!("{}presence:{tenant_id}:{user_id}", state.redis_prefix);
    mark_present(&state, &presence_key).await;
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
                Some(Ok(_)) => {}
            },
            _ = refresh.tick() => mark_present(&state, &presence_key).await,
        }
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
