//! `GET /v1/stream[?after=<seq>]`: a person's (or key's) live WebSocket.
//!
//! The first frame is `{"type":"ready"}`. With `after` (the last `seq` the client saw), what
//! the socket missed follows, in order, then the live frames, without gap or duplicate; when
//! `after` is further back than the gateway can replay, `{"type":"resync"}` (refetch over REST).
//! Frames of events carry their `seq`; typing, viewers and availability frames carry none.
//! A socket receives only what its holder may see (their visibility, recomputed as their teams
//! change; no internal notes for the AI; availability only for supervisors, admins and the
//! agent themself). A socket that falls behind catches up from the stream by itself, or is
//! told to resync.
//!
//! The client may send `{"type":"presence","availability":"online|away|offline"}` and
//! `{"type":"viewing","conversation_id":"<id>"|null}`; both are rate-limited (the latest
//! wins). A person's first socket makes them online and their last one gone (after a grace
//! period) offline ([`super::presence`]). Limits: sockets per person, frame size, an idle
//! timeout with pings.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::routing::v1 as routing;
use inbox_service::http_edge::WhenReady;
use inbox_service::{CallContext, Role};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use uuid::Uuid;

use super::Live;
use super::directory::Whereabouts;
use super::frame::{LiveFrame, Watcher};
use super::hub::{Catchup, Subscription};
use super::limit::LatestWins;
use super::presence::SocketSlot;
use super::replay::{ReplayRange, replay_from_stream};
use super::viewers::{Mark, viewing_frame};
use crate::api::error::GatewayError;
use crate::api::names::availability_from_name;
use crate::api::request::{QueryParams, query};
use crate::api::state::AppState;
use crate::auth::{Authenticated, Principal};

const READY: &str = r#"{"type":"ready"}"#;
const RESYNC: &str = r#"{"type":"resync"}"#;

/// A frame the client does not take within this long means a dead client: the socket closes.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// Least time between two availability changes a client asks for.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(2);
/// Least time between two viewing changes a client asks for.
const VIEWING_INTERVAL: Duration = Duration::from_millis(250);
/// Buffers of one socket: small, so ten thousand sockets fit in little memory.
const READ_BUFFER_BYTES: usize = 1024;
const MAX_WRITE_BUFFER_BYTES: usize = 1 << 20;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new().route("/v1/stream", get(open_stream))
}

#[derive(Debug, Default, Deserialize)]
struct StreamQuery {
    /// The last `seq` the client saw.
    #[serde(default)]
    after: Option<u64>,
}

async fn open_stream(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    params: QueryParams<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, GatewayError> {
    let state = state.get()?.clone();
    let ctx = principal.in_own_tenant()?;
    let StreamQuery { after } = query(params)?;
    let holder = match &principal {
        Principal::User { user_id, .. } => *user_id,
        Principal::Key { key_id, .. } => *key_id,
        Principal::Operator => return Err(PublicError::new(ErrorCode::PermissionDenied, "no live stream").into()),
    };
    let person = matches!(principal, Principal::User { .. });
    // People are routed to; the AI and keys are not.
    let routed = person && matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin);
    let visibility = state.access.visibility_of(&ctx).await?;
    let live = state.live.clone();
    let slot = live.presence.open((ctx.tenant_id, holder), routed).map_err(|_| {
        PublicError::new(
            ErrorCode::RateLimited,
            format!("at most {} live sockets per person; close one first", live.settings.max_sockets_per_user),
        )
    })?;
    let watcher = Watcher { user_id: person.then_some(holder), role: ctx.role, visibility };
    let revoked = state.auth.until_revoked(principal.clone());
    let limit = live.settings.max_client_frame_bytes;
    let upgrade = upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(limit)
        .max_frame_size(limit);
    let session = Session {
        socket_id: live.next_socket_id(),
        state,
        live,
        principal,
        ctx,
        watcher,
        slot,
        viewing: None,
        name: None,
        floor: 0,
    };
    Ok(upgrade.on_upgrade(move |socket| session.serve(socket, after, revoked)))
}

/// One open socket.
struct Session {
    socket_id: String,
    state: AppState,
    live: Arc<Live>,
    principal: Principal,
    ctx: CallContext,
    watcher: Watcher,
    slot: SocketSlot,
    /// The conversation this socket views, and its mark.
    viewing: Option<(Uuid, Mark)>,
    /// The holder's name, read once when they first view a conversation.
    name: Option<String>,
    /// Frames with a sequence up to this one were sent (or are older than the client's
    /// `after`): never again.
    floor: u64,
}

/// Why the socket stops.
enum Stop {
    /// The client left, or can no longer be written to.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

impl Session {
    async fn serve(mut self, mut socket: WebSocket, after: Option<u64>, revoked: impl Future<Output = ()>) {
        let tenant_id = self.ctx.tenant_id;
        self.slot.arrive().await;
        tracing::info!(%tenant_id, holder = %self.slot.person().1, "live stream opened");
        let stop = match self.run(&mut socket, after, revoked).await {
            Ok(()) => Stop::Gone,
            Err(stop) => stop,
        };
        if let Stop::Close(code, reason) = stop {
            let close = CloseFrame { code, reason: reason.into() };
            let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(close)))).await;
        }
        self.stop_viewing().await;
        tracing::info!(%tenant_id, holder = %self.slot.person().1, "live stream closed");
        // Dropping the slot lets the person's presence go after the grace period.
    }

    async fn run(
        &mut self,
        socket: &mut WebSocket,
        after: Option<u64>,
        revoked: impl Future<Output = ()>,
    ) -> Result<(), Stop> {
        let settings = self.live.settings.clone();
        send(socket, text(READY)).await?;
        let mut subscription = self.live.hub.subscribe(self.ctx.tenant_id, after);
        self.floor = after.unwrap_or(0);
        self.catch_up(socket, &mut subscription).await?;

        let mut revoked = pin!(revoked);
        let shutdown = self.live.shutdown.clone();
        let mut ping = tokio::time::interval_at(Instant::now() + settings.ping(), settings.ping());
        let mut heard = Instant::now();
        // Only agents' visibility depends on their teams.
        let recompute = settings.visibility_cache().max(Duration::from_secs(1));
        let mut visibility_check = tokio::time::interval_at(Instant::now() + recompute, recompute);
        let refresh = self.live.viewers.refresh_every();
        let mut viewer_refresh = tokio::time::interval_at(Instant::now() + refresh, refresh);
        let mut presence = LatestWins::new(PRESENCE_INTERVAL);
        let mut viewing = LatestWins::new(VIEWING_INTERVAL);
        loop {
            let next_due = [presence.next_due(), viewing.next_due()].into_iter().flatten().min();
            tokio::select! {
                () = &mut revoked => return Err(Stop::Close(4001, "credential revoked")),
                () = shutdown.cancelled() => return Err(Stop::Close(1001, "gateway restarting")),
                received = subscription.receiver.recv() => match received {
                    Ok(frame) => self.send_live(socket, &frame).await?,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(tenant_id = %self.ctx.tenant_id, missed, floor = self.floor, "live socket fell behind; catching up");
                        subscription = self.live.hub.subscribe(self.ctx.tenant_id, Some(self.floor));
                        self.catch_up(socket, &mut subscription).await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                incoming = socket.recv() => {
                    heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(()),
                        Some(Ok(Message::Text(text))) => {
                            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                            if let Some(chosen) = presence_frame(&frame)
                                && let Some(now) = presence.offer(chosen, Instant::now())
                            {
                                self.choose(now).await;
                            }
                            if let Some(target) = viewing_frame(&frame)
                                && let Some(now) = viewing.offer(target, Instant::now())
                            {
                                self.view(now).await;
                            }
                        }
                        Some(Ok(_)) => {}
                    }
                }
                () = sleep_until(next_due) => {
                    let now = Instant::now();
                    if let Some(chosen) = presence.due(now) {
                        self.choose(chosen).await;
                    }
                    if let Some(target) = viewing.due(now) {
                        self.view(target).await;
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() > settings.idle_timeout() {
                        return Err(Stop::Close(1001, "idle"));
                    }
                    send(socket, Message::Ping(Default::default())).await?;
                }
                _ = visibility_check.tick(), if self.ctx.role == Role::Agent => {
                    match self.state.access.visibility_of(&self.ctx).await {
                        Ok(visibility) => self.watcher.visibility = visibility,
                        Err(e) => tracing::warn!(error = %e, "visibility not rechecked; the socket keeps the last one"),
                    }
                }
                _ = viewer_refresh.tick(), if self.viewing.is_some() => self.refresh_viewing().await,
            }
        }
    }

    /// Sends what the subscriber missed, then moves the floor to the subscription's head.
    async fn catch_up(&mut self, socket: &mut WebSocket, subscription: &mut Subscription) -> Result<(), Stop> {
        let catchup = std::mem::replace(&mut subscription.catchup, Catchup::Nothing);
        match catchup {
            Catchup::Nothing => {}
            Catchup::Frames(frames) => {
                for frame in frames {
                    self.send_live(socket, &frame).await?;
                }
            }
            Catchup::FromStream { after, head } => {
                let range = ReplayRange { after, head };
                match replay_from_stream(&self.live.jetstream, self.ctx.tenant_id, range).await {
                    Ok(frames) => {
                        for frame in frames {
                            self.send_live(socket, &frame).await?;
                        }
                    }
                    Err(e) => {
                        tracing::info!(tenant_id = %self.ctx.tenant_id, error = %e, "replay impossible; resync");
                        send(socket, text(RESYNC)).await?;
                    }
                }
            }
            Catchup::Resync => send(socket, text(RESYNC)).await?,
        }
        self.floor = self.floor.max(subscription.head);
        Ok(())
    }

    /// Sends a frame if the watcher may see it and it was not sent already.
    async fn send_live(&mut self, socket: &mut WebSocket, frame: &LiveFrame) -> Result<(), Stop> {
        if let Some(seq) = frame.seq {
            if seq <= self.floor {
                return Ok(());
            }
            self.floor = seq;
        }
        if frame.audience.admits(&self.watcher) {
            send(socket, Message::Text(frame.text.clone())).await?;
        }
        Ok(())
    }

    /// The holder chose an availability on this socket.
    async fn choose(&self, availability: routing::Availability) {
        if self.slot_routed() {
            self.live.presence.choose(self.slot.person(), availability).await;
        }
    }

    fn slot_routed(&self) -> bool {
        matches!(self.principal, Principal::User { .. })
            && matches!(self.ctx.role, Role::Agent | Role::Supervisor | Role::Admin)
    }

    /// The holder opened a conversation (`Some`) or closed it (`None`).
    async fn view(&mut self, target: Option<Uuid>) {
        if !self.slot_routed() {
            return;
        }
        let Some(conversation_id) = target else {
            self.stop_viewing().await;
            return;
        };
        let Some(place) = self.place_if_visible(conversation_id).await else {
            tracing::debug!(%conversation_id, "viewing a conversation the holder may not see: ignored");
            return;
        };
        if self.name.is_none() {
            self.name = Some(self.state.name_of(&self.principal).await.unwrap_or_default());
        }
        let previous = match self.viewing.take() {
            Some((id, mark)) if id == conversation_id => Some(mark),
            Some((id, mark)) => {
                self.unview(id, &mark).await;
                None
            }
            None => None,
        };
        let mark = Mark {
            agent_id: self.slot.person().1,
            name: self.name.clone().unwrap_or_default(),
            socket: self.socket_id.clone(),
            since_ms: previous.as_ref().map_or_else(|| self.live.viewers.now_ms(), |p| p.since_ms),
            team_id: place.team_id,
            assignee_id: place.assignee_id,
        };
        match self.live.viewers.view(self.ctx.tenant_id, conversation_id, &mark, previous.as_ref(), false).await {
            Ok(()) => self.viewing = Some((conversation_id, mark)),
            Err(e) => tracing::warn!(error = %e, %conversation_id, "viewing not recorded"),
        }
    }

    /// Where the conversation is, if the holder may see it.
    async fn place_if_visible(&self, conversation_id: Uuid) -> Option<Whereabouts> {
        let request = self
            .ctx
            .request(
                pb::GetConversationRequest { conversation_id: conversation_id.to_string() },
                &self.state.service_token,
            )
            .ok()?;
        let mut conversations = self.state.conversations.clone();
        let found = self.watcher.visibility.clone().scope(conversations.get_conversation(request)).await.ok()?;
        let conversation = found.into_inner();
        let place = Whereabouts::of(&conversation.team_id, &conversation.assignee_id);
        self.watcher.visibility.allows(place.team_id, place.assignee_id).then_some(place)
    }

    async fn refresh_viewing(&self) {
        if let Some((id, mark)) = &self.viewing
            && let Err(e) = self.live.viewers.view(self.ctx.tenant_id, *id, mark, Some(mark), true).await
        {
            tracing::warn!(error = %e, "viewing not refreshed; it expires unless the next refresh works");
        }
    }

    async fn stop_viewing(&mut self) {
        if let Some((id, mark)) = self.viewing.take() {
            self.unview(id, &mark).await;
        }
    }

    async fn unview(&self, conversation_id: Uuid, mark: &Mark) {
        if let Err(e) = self.live.viewers.unview(self.ctx.tenant_id, conversation_id, mark).await {
            tracing::warn!(error = %e, %conversation_id, "viewing not cleared; it expires by itself");
        }
    }
}

async fn send(socket: &mut WebSocket, message: Message) -> Result<(), Stop> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Stop::Gone),
        Err(_) => Err(Stop::Close(1008, "too slow")),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The availability a client frame `{"type":"presence","availability":"away"}` asks for.
fn presence_frame(frame: &Value) -> Option<routing::Availability> {
    if frame["type"] != "presence" {
        return None;
    }
    availability_from_name(frame["availability"].as_str()?)
}

/// Frames are text; `&'static str` frames (ready, resync) need no copy.
fn text(frame: &'static str) -> Message {
    Message::Text(Utf8Bytes::from_static(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_frame_names_an_availability_and_anything_else_is_ignored() {
        let parse = |text: &str| serde_json::from_str::<Value>(text).ok().and_then(|v| presence_frame(&v));
        assert_eq!(parse(r#"{"type":"presence","availability":"away"}"#), Some(routing::Availability::Away));
        assert_eq!(parse(r#"{"type":"presence","availability":"busy"}"#), None);
        assert_eq!(parse(r#"{"type":"typing"}"#), None);
        assert_eq!(parse("not json"), None);
    }

    #[test]
    fn the_fixed_frames_are_what_clients_expect() {
        assert_eq!(serde_json::from_str::<Value>(READY).unwrap()["type"], "ready");
        assert_eq!(serde_json::from_str::<Value>(RESYNC).unwrap()["type"], "resync");
        assert!(matches!(text(READY), Message::Text(t) if t.as_str() == READY));
    }
}
