//! The web chat edge: `GET /webchat/widget.js` and the visitor API under
//! `/webchat/v1/widgets/{key}/...`.
//!
//! Every visitor API request names its widget in the path, so one gate checks, before any
//! handler runs: the widget exists (404), the `Origin` header is one of its allowed origins
//! (403; CORS headers are only ever sent for allowed origins, preflights included), and the
//! client address (`webchat::client_address`: behind trusted proxies only, IPv6 per /64) is
//! within its rate limits on this widget and on all widgets (429 with `Retry-After`). Handlers
//! then check the visitor's bearer token (401; a token unused for `visitor_idle_days` opens
//! nothing), bound to one visitor of that widget of that tenant, validate input (400), and
//! count new visitors and page views against the address's hourly caps (429) before writing
//! anything.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use inbox_bus::Bus;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::request::{body_of, not_taken};
use crate::config::WebchatSettings;
use crate::error::unavailable;
use crate::ingest::announce_deliveries;
use crate::metrics::WEBHOOKS;
use crate::store::{
    ArchiveBatcher, DeliveryState, IngestStore, PageRecord, Visitor, VisitorUpdate, WebchatMessage, Widget,
};
use crate::webchat::client_address::{Cidr, client_address, rate_key};
use crate::webchat::customer_typing;
use crate::webchat::hub::VisitorHub;
use crate::webchat::publication::publication;
use crate::webchat::rate_limit::{Limit, RateLimiter, Verdict};
use crate::webchat::tickets::{SocketTickets, TICKET_TTL_SECS};
use crate::webchat::visitor_input::{
    MessageInput, PageInput, SessionInput, clip_user_agent, parse_email, parse_locale, parse_name,
};

const CHANNEL: &str = "webchat";

/// The widget script, served from the binary.
const WIDGET_JS: &str = include_str!("../webchat/widget.js");
static WIDGET_ETAG: LazyLock<String> =
    LazyLock::new(|| format!("\"{}\"", hex::encode(&Sha256::digest(WIDGET_JS.as_bytes())[..12])));
/// Messages of history a widget loads.
const HISTORY_LIMIT: i64 = 100;
/// Largest visitor API body.
const MAX_BODY_BYTES: usize = 32 * 1024;

pub struct WebchatContext {
    pub store: IngestStore,
    pub bus: Bus,
    pub archive: ArchiveBatcher,
    pub hub: Arc<VisitorHub>,
    pub limiter: RateLimiter,
    pub tickets: SocketTickets,
    pub settings: WebchatSettings,
    /// The proxies whose `X-Forwarded-For` is believed (`webchat.trusted_proxies`).
    pub trusted_proxies: Vec<Cidr>,
    /// Closes visitor sockets when the replica stops: their widgets reconnect to another.
    pub shutdown: tokio_util::sync::CancellationToken,
}

type Ctx = WhenReady<Arc<WebchatContext>>;

pub fn routes(ctx: Ctx) -> Router {
    let visitor_api = Router::new()
        .route("/webchat/v1/widgets/{key}", get(widget_config))
        .route("/webchat/v1/widgets/{key}/sessions", post(start_session))
        .route("/webchat/v1/widgets/{key}/messages", get(history).post(post_message))
        .route("/webchat/v1/widgets/{key}/page-views", post(page_view))
        .route("/webchat/v1/widgets/{key}/read", post(mark_read))
        .route("/webchat/v1/widgets/{key}/socket-tickets", post(socket_ticket))
        .route("/webchat/v1/widgets/{key}/socket", get(socket))
        .layer(middleware::from_fn_with_state(ctx.clone(), widget_gate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new().route("/webchat/widget.js", get(widget_js)).merge(visitor_api).with_state(ctx)
}

/// Redis (rate limits, socket tickets) did not answer: 503, the cause logged.
fn redis_unavailable(e: redis::RedisError) -> ApiError {
    ApiError(unavailable("redis", &e))
}

fn rejected(outcome: &'static str, error: PublicError) -> ApiError {
    super::request::rejected(CHANNEL, outcome, error)
}

fn too_many(retry_after_secs: u64) -> Response {
    let mut response =
        ApiError(PublicError::new(ErrorCode::RateLimited, "too many requests; slow down")).into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    WEBHOOKS.with_label_values(&[CHANNEL, "rate_limited"]).inc();
    response
}

/// `GET /webchat/widget.js`: the script, cacheable for five minutes, revalidated by ETag.
async fn widget_js(headers: HeaderMap) -> Response {
    let etag = WIDGET_ETAG.as_str();
    let mut response = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, WIDGET_JS).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// The client a visitor API request counts against (`webchat::client_address`): its IPv4
/// address or IPv6 /64, put in the request's extensions by the gate.
#[derive(Debug, Clone)]
struct ClientKey(String);

fn client_key(ctx: &WebchatContext, request: &Request) -> ClientKey {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let forwarded = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    ClientKey(rate_key(client_address(peer, forwarded, &ctx.trusted_proxies)))
}

fn cors(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// Finds the widget, checks the origin and the client address's rate, answers preflights.
async fn widget_gate(State(ctx): State<Ctx>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let ctx = ctx.get()?.clone();
    let key = request
        .uri()
        .path()
        .strip_prefix("/webchat/v1/widgets/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    // Keys are `wk_` and 32 hex digits: anything else is not looked up.
    let well_formed = key.len() == 35 && key.starts_with("wk_") && key[3..].chars().all(|c| c.is_ascii_hexdigit());
    if !well_formed {
        return Err(rejected("unknown_account", PublicError::not_found("no such widget")));
    }
    // The address's rate first, on this widget and on all widgets together: made-up keys cost
    // a lookup each, so they are counted too. A request refused here has no verified origin, so
    // its 429 carries no CORS headers.
    let client = client_key(&ctx, &request);
    let limits = [
        Limit::per_minute("address", &client.0, ctx.settings.address_requests_per_minute_all_widgets),
        Limit::per_minute(&key, &client.0, ctx.settings.address_requests_per_minute),
    ];
    let verdict = ctx.limiter.check_all(&limits, ctx.store.clock().now()).await.map_err(redis_unavailable)?;
    if let Verdict::Limited { retry_after_secs } = verdict {
        return Ok(too_many(retry_after_secs));
    }
    let widget = ctx
        .store
        .widget_by_key_cached(&key)
        .await?
        .ok_or_else(|| rejected("unknown_account", PublicError::not_found("no such widget")))?;
    let origin = request.headers().get(header::ORIGIN).cloned();
    let allowed = origin.as_ref().and_then(|o| o.to_str().ok()).is_some_and(|o| widget.allows_origin(o));
    let Some(origin) = origin.filter(|_| allowed) else {
        return Err(rejected(
            "origin_not_allowed",
            PublicError::new(ErrorCode::PermissionDenied, "this origin may not use this widget"),
        ));
    };
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        cors(h, &origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return Ok(response);
    }
    request.extensions_mut().insert(widget);
    request.extensions_mut().insert(client);
    let mut response = next.run(request).await;
    cors(response.headers_mut(), &origin);
    Ok(response)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

async fn visitor_of(ctx: &WebchatContext, widget: &Widget, token: Option<&str>) -> Result<Visitor, ApiError> {
    let unauthenticated =
        || rejected("bad_token", PublicError::new(ErrorCode::Unauthenticated, "a valid visitor token is required"));
    let token = token.filter(|t| !t.is_empty() && t.len() <= 128).ok_or_else(unauthenticated)?;
    ctx.store.active_visitor_by_token(widget, token, visitor_idle(ctx)).await?.ok_or_else(unauthenticated)
}

/// How long an unused visitor token keeps opening its visitor.
fn visitor_idle(ctx: &WebchatContext) -> chrono::Duration {
    chrono::Duration::days(i64::from(ctx.settings.visitor_idle_days))
}

/// Counts what a request adds against its client's hourly caps (new visitors, page views):
/// `Some(429)` when over one.
async fn over_hourly_caps(
    ctx: &WebchatContext,
    client: &ClientKey,
    new_visitor: bool,
    page_view: bool,
) -> Result<Option<Response>, ApiError> {
    let mut limits = Vec::with_capacity(2);
    if new_visitor {
        limits.push(Limit::per_hour("visitors", &client.0, ctx.settings.visitors_per_address_per_hour));
    }
    if page_view {
        limits.push(Limit::per_hour("page_views", &client.0, ctx.settings.page_views_per_address_per_hour));
    }
    match ctx.limiter.check_all(&limits, ctx.store.clock().now()).await.map_err(redis_unavailable)? {
        Verdict::Allowed => Ok(None),
        Verdict::Limited { retry_after_secs } => Ok(Some(too_many(retry_after_secs))),
    }
}

fn widget_json(widget: &Widget) -> Value {
    json!({"name": widget.name, "greeting": widget.greeting, "color": widget.color})
}

fn message_json(m: &WebchatMessage) -> Value {
    json!({"id": m.id, "sender": m.sender, "client_message_id": m.client_message_id, "text": m.body,
        "sent_at": m.sent_at.to_rfc3339()})
}

fn invalid(e: impl std::fmt::Display) -> ApiError {
    rejected("malformed", PublicError::invalid_argument(e.to_string()))
}

/// `GET /webchat/v1/widgets/{key}`: what the widget shows before a session exists.
async fn widget_config(Extension(widget): Extension<Arc<Widget>>) -> Json<Value> {
    Json(widget_json(&widget))
}

/// The visit of `page`, seen `at`.
fn page_record(page: &PageInput, at: chrono::DateTime<chrono::Utc>) -> PageRecord {
    PageRecord { url: page.url.clone(), title: page.title.clone(), referrer: page.referrer.clone(), at }
}

/// `POST .../sessions`: resumes the visitor of `visitor_token` (on this widget), or starts a
/// new visitor; records name, email, browser, locale and the current page.
#[tracing::instrument(skip_all, fields(tenant_id = %widget.tenant_id, visitor_id))]
async fn start_session(
    State(ctx): State<Ctx>,
    Extension(widget): Extension<Arc<Widget>>,
    Extension(client): Extension<ClientKey>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let body = body_of(CHANNEL, body)?;
    let input: SessionInput =
        if body.is_empty() { SessionInput::default() } else { serde_json::from_slice(&body).map_err(invalid)? };
    // Empty means "not given": a session never erases what the visitor said before.
    let name = input.name.as_deref().map(parse_name).transpose().map_err(invalid)?.filter(|n| !n.is_empty());
    let email = input.email.as_deref().map(parse_email).transpose().map_err(invalid)?.filter(|e| !e.is_empty());
    let locale = input.locale.as_deref().map(parse_locale).transpose().map_err(invalid)?.unwrap_or_default();
    if let Some(page) = &input.page {
        page.validate().map_err(invalid)?;
    }
    let user_agent = clip_user_agent(headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default());
    let update =
        VisitorUpdate { name: name.as_deref(), email: email.as_deref(), user_agent: &user_agent, locale: &locale };

    let resumed = match input.visitor_token.as_deref() {
        Some(token) if !token.is_empty() && token.len() <= 128 => {
            ctx.store.active_visitor_by_token(&widget, token, visitor_idle(ctx)).await?
        }
        _ => None,
    };
    if let Some(refused) = over_hourly_caps(ctx, &client, resumed.is_none(), input.page.is_some()).await? {
        return Ok(refused);
    }
    let (visitor, token, status) = match resumed {
        Some(visitor) => {
            let visitor = ctx.store.update_visitor(visitor.id, &update).await?;
            (visitor, input.visitor_token.unwrap_or_default(), StatusCode::OK)
        }
        None => {
            let (visitor, token) = ctx.store.create_visitor(&widget, &update).await?;
            (visitor, token, StatusCode::CREATED)
        }
    };
    tracing::Span::current().record("visitor_id", tracing::field::display(visitor.id));
    if let Some(page) = &input.page {
        ctx.store.record_page_view(visitor.id, &page_record(page, ctx.store.clock().now())).await?;
    }
    let body = json!({
        "visitor_id": visitor.id,
        "visitor_token": token,
        "resumed": status == StatusCode::OK,
        "name": visitor.name,
        "email": visitor.email,
        "widget": widget_json(&widget),
    });
    Ok((status, Json(body)).into_response())
}

/// `POST .../page-views` `{url, title, referrer}`: the visitor opened a page.
async fn page_view(
    State(ctx): State<Ctx>,
    Extension(widget): Extension<Arc<Widget>>,
    Extension(client): Extension<ClientKey>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let visitor = visitor_of(ctx, &widget, bearer(&headers)).await?;
    let body = body_of(CHANNEL, body)?;
    let page: PageInput = serde_json::from_slice(&body).map_err(invalid)?;
    page.validate().map_err(invalid)?;
    if let Some(refused) = over_hourly_caps(ctx, &client, false, true).await? {
        return Ok(refused);
    }
    ctx.store.record_page_view(visitor.id, &page_record(&page, ctx.store.clock().now())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET .../messages`: the visitor's chat, oldest first (the last 100 messages).
async fn history(
    State(ctx): State<Ctx>,
    Extension(widget): Extension<Arc<Widget>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let ctx = ctx.get()?;
    let visitor = visitor_of(ctx, &widget, bearer(&headers)).await?;
    let messages = ctx.store.visitor_history(visitor.id, HISTORY_LIMIT).await?;
    Ok(Json(json!({"items": messages.iter().map(message_json).collect::<Vec<_>>()})))
}

/// `POST .../messages` `{client_message_id, text, page?}`: validated, rate limited, archived
/// raw, stored once per `client_message_id`, published on `ingest.webchat.<tenant>`; 201 when
/// stored, 200 with `replayed: true` for a resend. Answered only after JetStream acked.
#[tracing::instrument(skip_all, fields(tenant_id = %widget.tenant_id, visitor_id))]
async fn post_message(
    State(ctx): State<Ctx>,
    Extension(widget): Extension<Arc<Widget>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let received_at = ctx.store.clock().now();
    let visitor = visitor_of(ctx, &widget, bearer(&headers)).await?;
    tracing::Span::current().record("visitor_id", tracing::field::display(visitor.id));
    let body = body_of(CHANNEL, body)?;
    let input: MessageInput = serde_json::from_slice(&body).map_err(invalid)?;
    input.validate().map_err(invalid)?;
    let verdict = ctx
        .limiter
        .check("visitor", &visitor.id.to_string(), ctx.settings.visitor_messages_per_minute, received_at)
        .await
        .map_err(redis_unavailable)?;
    if let Verdict::Limited { retry_after_secs } = verdict {
        return Ok(too_many(retry_after_secs));
    }

    let raw_id = ctx.archive.archive(&widget.account(), body.clone(), received_at).await?;
    // The page travels with the message (page context); page views are recorded when pages
    // load (session starts and `page-views`), so a resend adds nothing to the history.
    let (message, stored) = ctx.store.store_visitor_message(&visitor, &input.client_message_id, &input.text).await?;
    // A resend publishes again: the event id is the message's, so the bus and the
    // conversation service keep one copy, and a publish lost before a crash is repaired.
    let publication = publication(widget.id, &visitor, &message, input.page.as_ref(), raw_id);
    if let Err(e) = ctx.bus.publish_all(&[publication]).await {
        let _ = ctx.store.mark_failed(raw_id, &e.to_string()).await;
        return Err(not_taken(CHANNEL, unavailable("bus", &e)));
    }
    ctx.archive.mark_published(raw_id).await;
    WEBHOOKS.with_label_values(&[CHANNEL, "accepted"]).inc();
    let status = if stored { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"message": message_json(&message), "replayed": !stored}))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadInput {
    message_ids: Vec<uuid::Uuid>,
}

/// `POST .../read` `{"message_ids": [...]}`: the visitor saw these agent replies (the widget
/// says so while its panel is open). Each becomes `read` (forward only) and is announced like
/// every delivery change; ids that are not agent replies of this visitor's chat are ignored.
async fn mark_read(
    State(ctx): State<Ctx>,
    Extension(widget): Extension<Arc<Widget>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let visitor = visitor_of(ctx, &widget, bearer(&headers)).await?;
    let body = body_of(CHANNEL, body)?;
    let input: ReadInput = serde_json::from_slice(&body).map_err(invalid)?;
    if input.message_ids.is_empty() || input.message_ids.len() > 100 {
        return Err(invalid("message_ids: 1 to 100 message ids"));
    }
    let replies = ctx.store.agent_replies_of_visitor(visitor.id, &input.message_ids).await?;
    for id in &replies {
        ctx.store.advance_webchat_delivery(visitor.tenant_id, *id, DeliveryState::Read).await?;
    }
    // Every read reply is announced as it stands, not only those this call moved: a retry after
    // a lost announcement repairs it (event ids are per state, so nothing is doubled).
    let read: Vec<_> = ctx
        .store
        .deliveries(visitor.tenant_id, &replies)
        .await?
        .into_iter()
        .filter(|row| row.state == DeliveryState::Read.as_str())
        .collect();
    if let Err(e) = announce_deliveries(&ctx.bus, &read).await {
        return Err(ApiError(unavailable("bus", &e)));
    }
    Ok(Json(json!({"read": read.len()})).into_response())
}

/// `POST .../socket-tickets` (visitor token as bearer): `{"ticket", "expires_in"}`, a
/// single-use ticket for `GET .../socket?ticket=` within a minute.
async fn socket_ticket(
    State(ctx): State<Ctx>,
    Extension(widget): Extension<Arc<Widget>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let visitor = visitor_of(ctx, &widget, bearer(&headers)).await?;
    let ticket = ctx.tickets.issue(widget.id, visitor.id).await.map_err(redis_unavailable)?;
    Ok((StatusCode::CREATED, Json(json!({"ticket": ticket, "expires_in": TICKET_TTL_SECS}))).into_response())
}

#[derive(Debug, Deserialize)]
struct SocketQuery {
    #[serde(default)]
    ticket: String,
}

/// `GET .../socket?ticket=`: the visitor's live frames: `{"type":"ready"}`, then
/// `{"type":"message","message":{...}}` for agent replies and `{"type":"typing","typing":bool}`.
/// The widget sends `{"type":"typing","typing":bool}` while the visitor types (told to the agents).
/// The ticket (from `POST .../socket-tickets`) stands in for the visitor token, which is never
/// put in a URL.
async fn socket(
    State(ctx): State<Ctx>,
    Extension(widget): Extension<Arc<Widget>>,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?.clone();
    let unauthenticated =
        || rejected("bad_token", PublicError::new(ErrorCode::Unauthenticated, "a valid socket ticket is required"));
    let visitor_id =
        ctx.tickets.redeem(widget.id, &query.ticket).await.map_err(redis_unavailable)?.ok_or_else(unauthenticated)?;
    let visitor =
        ctx.store.visitor_of_tenant(widget.tenant_id, widget.id, visitor_id).await?.ok_or_else(unauthenticated)?;
    // The socket only carries frames to the visitor: what comes back is control frames, so
    // nothing large is ever buffered for an anonymous client (axum's default is 64 MiB).
    let upgrade = upgrade.max_message_size(VISITOR_FRAME_LIMIT).max_frame_size(VISITOR_FRAME_LIMIT);
    Ok(upgrade.on_upgrade(move |socket| serve_visitor_socket(ctx, visitor, socket)))
}

/// Largest frame a visitor's socket accepts from the visitor.
const VISITOR_FRAME_LIMIT: usize = 4 * 1024;
/// A socket that has sent nothing (not even a pong) for this long is dead: closed, so it stops
/// counting against the visitor's sockets.
const VISITOR_SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn serve_visitor_socket(ctx: Arc<WebchatContext>, visitor: Visitor, mut socket: WebSocket) {
    let Some((id, mut frames)) = ctx.hub.register(visitor.tenant_id, visitor.id) else {
        let _ = socket.send(WsMessage::Close(None)).await;
        return;
    };
    // Pings keep proxies from closing an idle socket; a dead one (no pong) is closed within
    // VISITOR_SILENCE_LIMIT plus one ping interval.
    let mut ping = tokio::time::interval(std::time::Duration::from_secs(25));
    ping.tick().await;
    let mut heard = tokio::time::Instant::now();
    let mut typing_gate = customer_typing::TypingGate::default();
    if socket.send(WsMessage::Text(json!({"type": "ready"}).to_string().into())).await.is_ok() {
        loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => if socket.send(WsMessage::Text(frame.into())).await.is_err() { break },
                    None => break,
                },
                _ = ping.tick() => {
                    if heard.elapsed() > VISITOR_SILENCE_LIMIT
                        || socket.send(WsMessage::Ping(Default::default())).await.is_err()
                    {
                        break;
                    }
                }
                () = ctx.shutdown.cancelled() => {
                    let _ = socket.send(WsMessage::Close(None)).await;
                    break;
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => heard = tokio::time::Instant::now(),
                    // The widget sends only its typing: a client that sends anything else is not it.
                    Some(Ok(WsMessage::Text(text))) if customer_typing::typing_of(text.as_str()).is_some() => {
                        heard = tokio::time::Instant::now();
                        let typing = customer_typing::typing_of(text.as_str()).unwrap_or(false);
                        if typing_gate.passes(typing, std::time::Instant::now()) {
                            customer_typing::tell_agents(ctx.bus.client(), &visitor, typing).await;
                        }
                    }
                    Some(Ok(WsMessage::Text(_) | WsMessage::Binary(_))) => {
                        let _ = socket.send(WsMessage::Close(None)).await;
                        break;
                    }
                },
            }
        }
    }
    ctx.hub.unregister(visitor.tenant_id, visitor.id, id);
}
