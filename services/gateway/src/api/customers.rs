//! Customer profiles: `GET|PATCH /v1/customers/{id}`, `PUT|DELETE /v1/customers/{id}/cards`,
//! `GET /v1/customers/{id}/conversations`, `GET /v1/conversations/{id}/related`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::GatewayError;
use super::names::channel_from_name;
use super::present::conversation::ConversationJson;
use super::present::customer::{CardFieldJson, CardJson, CustomerJson, customer_update};
use super::present::{Page, items};
use super::request::{JsonBody, PageQuery, body};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/customers/{id}", get(get_customer).patch(update_customer))
        .route("/v1/customers/{id}/cards", put(upsert_card).delete(delete_card))
        .route("/v1/customers/{id}/conversations", get(list_customer_conversations))
        .route("/v1/conversations/{id}/related", get(list_related_conversations))
}

async fn get_customer(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<CustomerJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetCustomerRequest { customer_id: id }, &state.service_token)?;
    let customer = state.customers.clone().get_customer(request).await?.into_inner();
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
    channel_from_name(name).ok_or_else(|| {
        PublicError::invalid_argument(format!("{field}: '{name}' is not whatsapp, telephony or webchat"))
    })
}

async fn update_customer(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    changes: JsonBody<CustomerChanges>,
) -> Result<Json<Value>, GatewayError> {
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
    let updated = state.customers.clone().update_customer(request).await?.into_inner();
    Ok(Json(customer_update(&updated)))
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
) -> Result<Json<CardJson>, GatewayError> {
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
    let card = state.customers.clone().upsert_integration_card(request).await?.into_inner();
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
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(
        pb::DeleteIntegrationCardRequest { customer_id: id, source: card.source, title: card.title },
        &state.service_token,
    )?;
    let deleted = state.customers.clone().delete_integration_card(request).await?.into_inner();
    Ok(Json(json!({"deleted": deleted.deleted})))
}

async fn list_customer_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ConversationJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(
        pb::ListCustomerConversationsRequest { customer_id: id, page: Some(page.to_proto()) },
        &state.service_token,
    )?;
    let response = state.customers.clone().list_customer_conversations(request).await?.into_inner();
    Ok(Json(Page::new(response.conversations.iter().map(ConversationJson::from).collect(), response.next_cursor)))
}

async fn list_related_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListRelatedConversationsRequest { conversation_id: id }, &state.service_token)?;
    let response = state.customers.clone().list_related_conversations(request).await?.into_inner();
    Ok(Json(items(response.conversations.iter().map(ConversationJson::from))))
}
