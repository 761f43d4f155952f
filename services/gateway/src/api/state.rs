//! What every handler may use: the gateway's store, the authenticator, the clock, and clients
//! of the services behind the edge. Cheap to clone.

use std::sync::Arc;

use inbox_config::Secret;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::conversation::v1::customers_client::CustomersClient;
use inbox_proto::conversation::v1::exports_client::ExportsClient;
use inbox_proto::conversation::v1::templates_client::TemplatesClient;
use inbox_proto::ingest::v1::channel_accounts_client::ChannelAccountsClient;
use inbox_proto::ingest::v1::channel_deliveries_client::ChannelDeliveriesClient;
use inbox_proto::ingest::v1::webchat_visitors_client::WebchatVisitorsClient;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_proto::search::v1::search_client::SearchClient;
use inbox_service::Clock;
use inbox_service::http_edge::{ApiError, WhenReady};
use tonic::transport::Channel;

use crate::access::Access;
use crate::auth::{Auth, HasAuth, Principal};
use crate::live::Live;
use crate::store::GatewayStore;

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<AppInner>,
}

pub struct AppInner {
    pub store: GatewayStore,
    /// Sign-in, sessions, API keys: judges every request's credential.
    pub auth: Auth,
    /// The time tokens are issued and checked at: the system clock in production.
    pub clock: Clock,
    pub service_token: Secret,
    pub conversations: ConversationsClient<Channel>,
    pub customers: CustomersClient<Channel>,
    pub templates: TemplatesClient<Channel>,
    pub exports: ExportsClient<Channel>,
    pub channel_accounts: ChannelAccountsClient<Channel>,
    pub routing: RoutingClient<Channel>,
    pub channel_deliveries: ChannelDeliveriesClient<Channel>,
    pub webchat_visitors: WebchatVisitorsClient<Channel>,
    pub metrics: inbox_metrics::proto::metrics_client::MetricsClient<Channel>,
    pub notification: inbox_notification::proto::notifications_client::NotificationsClient<Channel>,
    pub search: SearchClient<Channel>,
    /// Core NATS, for ephemeral signals (agent typing to web chat visitors).
    pub nats: async_nats::Client,
    pub live: Arc<Live>,
    /// Decides what each caller may see (the tenant's visibility setting, agents' teams).
    pub access: Arc<Access>,
    pub redis: redis::aio::ConnectionManager,
    pub redis_prefix: String,
    /// Lifetime of tokens issued without an explicit one.
    pub token_ttl: chrono::Duration,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.inner
    }
}

impl HasAuth for WhenReady<AppState> {
    fn auth(&self) -> Result<&Auth, ApiError> {
        Ok(&self.get()?.auth)
    }
}

impl AppInner {
    /// The calling user's name as the team knows them (for `{{agent_name}}` and hand-off
    /// messages); empty for the operator, an API key or a user no longer on record.
    pub async fn name_of(&self, principal: &Principal) -> Result<String, sqlx::Error> {
        match principal {
            Principal::User { tenant_id, user_id, .. } => {
                Ok(self.store.user(*tenant_id, *user_id).await?.map(|user| user.name).unwrap_or_default())
            }
            Principal::Operator | Principal::Key { .. } => Ok(String::new()),
        }
    }
}
