//! The public REST API under `/v1`. Modules depend downward only:
//!
//! 1. [`state`], [`error`], [`names`], [`request`], [`media_headers`]: what every handler
//!    shares — the app state, the one error path, the names of enums, reading a request (bodies,
//!    queries, ids, pages, filters, new message content), and how customers' files are served. Authentication is [`crate::auth`].
//! 2. [`present`]: pure functions from protobuf to the JSON clients read.
//! 3. One module per resource, each with its `routes()`; no resource module uses another.
//! 4. [`openapi`]: what the OpenAPI document adds to the resources' operations; this module
//!    assembles the routes and their document.

pub mod error;
pub mod media_headers;
pub mod names;
pub mod openapi;
pub mod present;
pub mod request;
pub mod state;

pub mod access;
pub mod admin;
pub mod bulk;
pub mod calls;
pub mod channels;
pub mod conversations;
pub mod credentials;
pub mod customers;
pub mod export;
pub mod handling;
pub mod messages;
pub mod metrics;
pub mod notifications;
pub mod routing;
pub mod search;
pub mod settings;
pub mod sign_in;
pub mod templates;
pub mod tickets;
pub mod typing;
pub mod viewers;
pub mod views;

use axum::Router;
use inbox_service::http_edge::WhenReady;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use state::{AppInner, AppState};

/// Every route of the REST API, the OpenAPI document among them. Every error answer has the
/// one error shape, even one axum writes before a handler runs.
pub fn routes() -> Router<WhenReady<AppState>> {
    let (router, document) = split();
    router
        .layer(axum::Extension(openapi::Published::new(&document)))
        .layer(axum::middleware::from_fn(request::refuse_nul))
        .layer(axum::middleware::from_fn(error::uniform_error_answer))
}

/// The OpenAPI document of [`routes`] (and of the live stream).
pub fn document() -> utoipa::openapi::OpenApi {
    split().1
}

fn split() -> (Router<WhenReady<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut document) = documented_routes().split_for_parts();
    openapi::finish(&mut document);
    (router, document)
}

/// Every route with its OpenAPI operation: each resource registers its handlers with
/// `routes!`, which adds the handler's `#[utoipa::path]` to the document ([`openapi`]).
pub fn documented_routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi::openapi_json))
        .merge(conversations::routes())
        .merge(access::routes())
        .merge(viewers::routes())
        .merge(messages::routes())
        .merge(typing::routes())
        .merge(calls::routes())
        .merge(views::routes())
        .merge(handling::routes())
        .merge(settings::routes())
        .merge(bulk::routes())
        .merge(templates::routes())
        .merge(export::routes())
        .merge(customers::routes())
        .merge(admin::routes())
        .merge(sign_in::routes())
        .merge(tickets::routes())
        .merge(credentials::routes())
        .merge(routing::routes())
        .merge(channels::routes())
        .merge(metrics::routes())
        .merge(notifications::routes())
        .merge(search::routes())
}
