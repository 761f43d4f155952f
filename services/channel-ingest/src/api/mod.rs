//! channel-ingest's edges, translation only. They depend downward, never on each other:
//!
//! - `request`: what every HTTP edge does with a request first (body, refusals, 503s) and the
//!   state the provider webhooks share;
//! - one module per HTTP edge above it: `whatsapp`, `twilio` (provider webhooks) and `webchat`
//!   (the widget and its visitors);
//! - one module per gRPC service: `accounts` (`ChannelAccounts`), `visitors`
//!   (`WebchatVisitors`), `deliveries` (`ChannelDeliveries`: delivery states, media, replay,
//!   click-to-call).

pub mod accounts;
pub mod deliveries;
pub mod request;
pub mod twilio;
pub mod visitors;
pub mod webchat;
pub mod whatsapp;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use inbox_service::http_edge::WhenReady;

pub use request::WebhookContext;

/// The provider webhooks, WhatsApp and Twilio, with bodies up to `max_body_bytes`.
pub fn webhook_routes(ctx: WhenReady<WebhookContext>, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(whatsapp::routes())
        .merge(twilio::routes())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(ctx)
}
