//! The public REST API under `/v1` and the state its handlers share.

pub mod admin;
pub mod bulk;
pub(crate) mod channel_json;
pub mod conversations;
pub mod customers;
pub mod export;
pub mod handling;
pub mod json;
pub mod routing;
pub mod settings;
pub mod telephony;
pub mod templates;
pub mod views;
pub mod webchat;
pub mod whatsapp;

use inbox_config::Secret;
use inbox_errors::PublicError;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::conversation::v1::customers_client::CustomersClient;
use inbox_proto::conversation::v1::exports_client::ExportsClient;
use inbox_proto::conversation::v1::templates_client::TemplatesClient;
use inbox_proto::ingest::v1::channel_accounts_client::ChannelAccountsClient;
use inbox_proto::ingest::v1::channel_deliveries_client::ChannelDeliveriesClient;
use inbox_proto::ingest::v1::webchat_visitors_client::WebchatVisitorsClient;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::http_edge::{ApiError, WhenReady};
use tonic::transport::Channel;

use crate::auth::{Authenticator, HasAuthenticator};
use crate::live::LiveHub;
use crate::store::GatewayStore;

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub inner: std::sync::Arc<AppInner>,
}

pub struct AppInner {
    pub store: GatewayStore,
    pub auth: Authenticator,
    pub service_token: Secret,
    pub conversations: ConversationsClient<Channel>,
    pub customers: CustomersClient<Channel>,
    pub templates: TemplatesClient<Channel>,
    pub exports: ExportsClient<Channel>,
    pub channel_accounts: ChannelAccountsClient<Channel>,
    pub routing: RoutingClient<Channel>,
    pub channel_deliveries: ChannelDeliveriesClient<Channel>,
    pub webchat_visitors: WebchatVisitorsClient<Channel>,
    /// Core NATS, for ephemeral signals (agent typing to web chat visitors).
    pub nats: async_nats::Client,
    pub live: std::sync::Arc<LiveHub>,
    pub redis: redis::aio::ConnectionManager,
    pub redis_prefix: String,
    pub token_ttl: chrono::Duration,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.inner
    }
}

impl HasAuthenticator for WhenReady<AppState> {
    fn authenticator(&self) -> Result<&Authenticator, ApiError> {
        Ok(&self.get()?.auth)
    }
}

/// Logs a store failure and answers with a generic error.
pub(crate) fn store_failure(e: sqlx::Error) -> PublicError {
    tracing::error!(error = %e, "gateway store failure");
    PublicError::unavailable("temporarily unavailable; retry")
}

/// Translates a failed internal call; the precise code travels in metadata.
pub(crate) fn upstream_failure(status: tonic::Status) -> PublicError {
    let err = PublicError::from_status(&status);
    if matches!(err.code, inbox_errors::ErrorCode::Internal | inbox_errors::ErrorCode::Unavailable) {
        tracing::warn!(code = ?status.code(), message = status.message(), "internal call failed");
    }
    err
}
