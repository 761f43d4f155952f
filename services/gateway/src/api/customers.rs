//! Customer profiles: `GET|PATCH /v1/customers/{id}`, `PUT|DELETE /v1/customers/{id}/cards`,
//! `GET /v1/customers/{id}/conversations`, `GET /v1/conversations/{id}/related`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::conversations::{JsonBody, PageQuery, body};
use super::json::{ConversationJson, Page, channel, time};
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/customers/{id}", get(get_customer).patch(update_customer))
        .route("/v1/customers/{id}/cards", put(upsert_card).delete(delete_card))
        .route("/v1/customers/{id}/conversations", get(list_customer_conversations))
        .route("/v1/conversations/{id}/related", get(list_related_conversations))
}

#[derive(Debug, Serialize)]
pub struct ChannelIdentityJson {
    pub channel: &'static str,
    pub address: String,
    pub created_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ChannelPreferencesJson {
    /// `null` for no preference.
    pub preferred: Option<&'static str>,
    pub opted_out: Vec<&'static str>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CardFieldJson {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct CardJson {
    pub source: String,
    pub title: String,
    pub fields: Vec<CardFieldJson>,
    pub updated_at: Option<String>,
}

impl From<&pb::IntegrationCard> for CardJson {
    fn from(c: &pb::IntegrationCard) -> Self {
        Self {
            source: c.source.clone(),
            title: c.title.clone(),
            fields: c.fields.iter().map(|f| CardFieldJson { key: f.key.clone(), value: f.value.clone() }).collect(),
            updated_at: time(c.updated_at.as_ref()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CustomerJson {
    pub id: String,
    pub display_name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub identities: Vec<ChannelIdentityJson>,
    pub channel_preferences: ChannelPreferencesJson,
    pub segment: String,
    pub attributes: BTreeMap<String, String>,
    pub cards: Vec<CardJson>,
    pub total_conversations: i64,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<&pb::Customer> for CustomerJson {
    fn from(c: &pb::Customer) -> Self {
        let prefs = c.channel_preferences.clone().unwrap_or_default();
        Self {
            id: c.id.clone(),
            display_name: c.display_name.clone(),
            phones: c.phones.clone(),
            emails: c.emails.clone(),
            identities: c
                .identities
                .iter()
                .map(|i| ChannelIdentityJson {
                    channel: channel(i.channel),
                    address: i.address.clone(),
                    created_at: time(i.created_at.as_ref()),
                })
                .collect(),
            channel_preferences: ChannelPreferencesJson {
                preferred: (prefs.preferred != Channel::Unspecified as i32).then(|| channel(prefs.preferred)),
                opted_out: prefs.opted_out.iter().map(|c| channel(*c)).collect(),
            },
            segment: c.segment.clone(),
            attributes: c.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            cards: c.cards.iter().map(CardJson::from).collect(),
            total_conversations: c.total_conversations,
            created_at: time(c.created_at.as_ref()),
            updated_at: time(c.updated_at.as_ref()),
        }
    }
}

async fn get_customer(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<CustomerJson>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetCustomerRequest { customer_id: id }, &state.service_token)?;
    let customer = state.customers.clone().get_customer(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(CustomerJson::from(&customer)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannelPreferences {
    #[serde(default)]
    preferred: Option<String>,
    #[serde(default)]
    opted_out: Vec<String>,
}

/// Fields left out stay as they are; fields given replace the old value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerChanges {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    phones: Option<Vec<String>>,
    #[serde(default)]
    emails: Option<Vec<String>>,
    #[serde(default)]
    channel_preferences: Option<NewChannelPreferences>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    attributes: Option<BTreeMap<String, String>>,
}

fn channel_named(name: &str, field: &str) -> Result<Channel, PublicError> {
    inbox_bus::subjects::channel_from_token(name).ok_or_else(|| {
        PublicError::invalid_argument(format!("{field}: '{name}' is not whatsapp, telephony or webchat"))
    })
}

async fn update_customer(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    changes: JsonBody<CustomerChanges>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let changes = body(changes)?;
    let channel_preferences = match changes.channel_preferences {
        Some(prefs) => Some(pb::ChannelPreferences {
            preferred: match prefs.preferred.as_deref() {
                None | Some("") => Channel::Unspecified as i32,
                Some(name) => channel_named(name, "channel_preferences.preferred")? as i32,
            },
            opted_out: prefs
                .opted_out
                .iter()
                .map(|name| channel_named(name, "channel_preferences.opted_out").map(|c| c as i32))
                .collect::<Result<_, _>>()?,
        }),
        None => None,
    };
    let request = ctx.request(
        pb::UpdateCustomerRequest {
            customer_id: id,
            display_name: changes.display_name,
            phones: changes.phones.map(|values| pb::PhoneNumberList { values }),
            emails: changes.emails.map(|values| pb::EmailAddressList { values }),
            channel_preferences,
            segment: changes.segment,
            attributes: changes.attributes.map(|values| pb::CustomAttributes { values: values.into_iter().collect() }),
        },
        &state.service_token,
    )?;
    let updated = state.customers.clone().update_customer(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({
        "customer": updated.customer.as_ref().map(CustomerJson::from),
        "merged_customer_ids": updated.merged_customer_ids,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCard {
    source: String,
    title: String,
    #[serde(default)]
    fields: Vec<CardFieldJson>,
}

async fn upsert_card(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewCard>,
) -> Result<Json<CardJson>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request = ctx.request(
        pb::UpsertIntegrationCardRequest {
            customer_id: id,
            card: Some(pb::IntegrationCard {
                source: new.source,
                title: new.title,
                fields: new.fields.into_iter().map(|f| pb::IntegrationField { key: f.key, value: f.value }).collect(),
                updated_at: None,
            }),
        },
        &state.service_token,
    )?;
    let card = state.customers.clone().upsert_integration_card(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(CardJson::from(&card)))
}

#[derive(Debug, Deserialize)]
struct CardQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    title: String,
}

async fn delete_card(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    Query(card): Query<CardQuery>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(
        pb::DeleteIntegrationCardRequest { customer_id: id, source: card.source, title: card.title },
        &state.service_token,
    )?;
    let deleted =
        state.customers.clone().delete_integration_card(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"deleted": deleted.deleted})))
}

async fn list_customer_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ConversationJson>>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(
        pb::ListCustomerConversationsRequest { customer_id: id, page: Some(page.to_proto()) },
        &state.service_token,
    )?;
    let response =
        state.customers.clone().list_customer_conversations(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(Page::new(response.conversations.iter().map(ConversationJson::from).collect(), response.next_cursor)))
}

async fn list_related_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListRelatedConversationsRequest { conversation_id: id }, &state.service_token)?;
    let response =
        state.customers.clone().list_related_conversations(request).await.map_err(upstream_failure)?.into_inner();
    let items: Vec<ConversationJson> = response.conversations.iter().map(ConversationJson::from).collect();
    Ok(Json(json!({"items": items})))
}
