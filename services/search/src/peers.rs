//! What search asks of other services over gRPC: the conversation service (customer profiles,
//! tenant time zones, and conversations and messages for a rebuild) and the routing service
//! (agents by email, teams by name). Directory answers are cached per tenant for a short while.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use inbox_config::Secret;
use inbox_proto::conversation::v1 as conv;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::conversation::v1::customers_client::CustomersClient;
use inbox_proto::routing::v1 as routing;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::grpc::{ClientTls, client_channel};
use inbox_service::{CallContext, Role};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::documents::CustomerProfile;
use crate::error::SearchError;

/// The principal search acts as.
const PRINCIPAL: &str = "service:search";

/// gRPC clients of the conversation and routing services.
pub struct Peers {
    conversations: ConversationsClient<Channel>,
    customers: CustomersClient<Channel>,
    routing: RoutingClient<Channel>,
    token: Secret,
    ttl: Duration,
    cache: Mutex<HashMap<(Uuid, Kind), (Instant, Cached)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Agents,
    Teams,
    Zone,
}

#[derive(Debug, Clone)]
enum Cached {
    Names(HashMap<String, Uuid>),
    Zone(Tz),
}

/// One page of conversations, and where the next starts.
pub struct ConversationPage {
    pub conversations: Vec<conv::Conversation>,
    pub next_cursor: String,
}

impl Peers {
    pub fn new(
        conversation_url: &str,
        routing_url: &str,
        tls: &ClientTls,
        token: Secret,
        ttl: Duration,
    ) -> Result<Self, SearchError> {
        let channel = |url: &str| client_channel(url, tls).map_err(|e| SearchError::Invalid(e.message));
        let conversation = channel(conversation_url)?;
        Ok(Self {
            conversations: ConversationsClient::new(conversation.clone()),
            customers: CustomersClient::new(conversation),
            routing: RoutingClient::new(channel(routing_url)?),
            token,
            ttl,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn context(tenant: Uuid, role: Role) -> CallContext {
        CallContext { tenant_id: tenant, principal: PRINCIPAL.into(), role }
    }

    fn request<T>(&self, tenant: Uuid, message: T) -> Result<tonic::Request<T>, SearchError> {
        Self::context(tenant, Role::Service)
            .request(message, &self.token)
            .map_err(|s| SearchError::Upstream { what: "request", status: s })
    }

    fn cached(&self, tenant: Uuid, kind: Kind) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(&(tenant, kind)).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, c)| c.clone())
    }

    fn remember(&self, tenant: Uuid, kind: Kind, value: Cached) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        cache.insert((tenant, kind), (Instant::now(), value));
    }

    /// The tenant's agents by lower-cased email.
    pub async fn agents(&self, tenant: Uuid) -> Result<HashMap<String, Uuid>, SearchError> {
        if let Some(Cached::Names(agents)) = self.cached(tenant, Kind::Agents) {
            return Ok(agents);
        }
        let request = self.request(tenant, routing::ListAgentsRequest {})?;
        let agents = self.routing.clone().list_agents(request).await.map_err(SearchError::upstream("routing"))?;
        let agents: HashMap<String, Uuid> = agents
            .into_inner()
            .agents
            .into_iter()
            .filter_map(|a| Some((a.email.trim().to_lowercase(), Uuid::parse_str(&a.id).ok()?)))
            .collect();
        self.remember(tenant, Kind::Agents, Cached::Names(agents.clone()));
        Ok(agents)
    }

    /// The tenant's teams by lower-cased name.
    pub async fn teams(&self, tenant: Uuid) -> Result<HashMap<String, Uuid>, SearchError> {
        if let Some(Cached::Names(teams)) = self.cached(tenant, Kind::Teams) {
            return Ok(teams);
        }
        let request = self.request(tenant, routing::ListTeamsRequest {})?;
        let teams = self.routing.clone().list_teams(request).await.map_err(SearchError::upstream("routing"))?;
        let teams: HashMap<String, Uuid> = teams
            .into_inner()
            .teams
            .into_iter()
            .filter_map(|t| Some((t.name.trim().to_lowercase(), Uuid::parse_str(&t.id).ok()?)))
            .collect();
        self.remember(tenant, Kind::Teams, Cached::Names(teams.clone()));
        Ok(teams)
    }

    /// The tenant's time zone (UTC when it names none the zone database knows).
    pub async fn time_zone(&self, tenant: Uuid) -> Result<Tz, SearchError> {
        if let Some(Cached::Zone(zone)) = self.cached(tenant, Kind::Zone) {
            return Ok(zone);
        }
        let request = self.request(tenant, conv::GetTenantSettingsRequest {})?;
        let settings = self
            .conversations
            .clone()
            .get_tenant_settings(request)
            .await
            .map_err(SearchError::upstream("conversation"))?;
        let zone = settings.into_inner().time_zone.parse::<Tz>().unwrap_or(Tz::UTC);
        self.remember(tenant, Kind::Zone, Cached::Zone(zone));
        Ok(zone)
    }

    /// A customer's whole profile; `None` when the customer no longer exists (merged away).
    pub async fn customer(&self, tenant: Uuid, id: Uuid) -> Result<Option<CustomerProfile>, SearchError> {
        // `Customers/GetCustomer` admits only the tenant's people, not services; search reads
        // profiles as an admin would (read-only, under its own principal).
        let request = Self::context(tenant, Role::Admin)
            .request(conv::GetCustomerRequest { customer_id: id.to_string() }, &self.token)
            .map_err(|s| SearchError::Upstream { what: "request", status: s })?;
        match self.customers.clone().get_customer(request).await {
            Ok(customer) => CustomerProfile::from_proto(&customer.into_inner())
                .map(Some)
                .map_err(|e| SearchError::Invalid(e.to_string())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(SearchError::Upstream { what: "conversation", status }),
        }
    }

    /// One page of every conversation of the tenant, oldest activity first.
    pub async fn conversations(&self, tenant: Uuid, cursor: String) -> Result<ConversationPage, SearchError> {
        let request = self.request(
            tenant,
            conv::ListConversationsRequest {
                page: Some(inbox_proto::common::v1::PageRequest { limit: 200, cursor }),
                filter: None,
                sort: conv::SortOrder::Oldest as i32,
            },
        )?;
        let page = self
            .conversations
            .clone()
            .list_conversations(request)
            .await
            .map_err(SearchError::upstream("conversation"))?;
        let page = page.into_inner();
        Ok(ConversationPage { conversations: page.conversations, next_cursor: page.next_cursor })
    }

    /// Every message of a conversation; empty when it no longer exists.
    pub async fn messages(&self, tenant: Uuid, conversation: &str) -> Result<Vec<conv::Message>, SearchError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let request = self.request(
                tenant,
                conv::ListMessagesRequest {
                    conversation_id: conversation.to_owned(),
                    page: Some(inbox_proto::common::v1::PageRequest { limit: 200, cursor }),
                },
            )?;
            let page = match self.conversations.clone().list_messages(request).await {
                Ok(page) => page.into_inner(),
                Err(status) if status.code() == tonic::Code::NotFound => return Ok(vec![]),
                Err(status) => return Err(SearchError::Upstream { what: "conversation", status }),
            };
            out.extend(page.messages);
            if page.next_cursor.is_empty() {
                return Ok(out);
            }
            cursor = page.next_cursor;
        }
    }
}
