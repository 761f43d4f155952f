//! Customer profiles: `GET|PATCH /v1/customers/{id}`, `PUT|DELETE /v1/customers/{id}/cards`,
//! `GET /v1/customers/{id}/conversations`, `GET /v1/conversations/{id}/related`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use inbox_errors::PublicError;
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::names::channel_from_name;
use super::present::conversation::ConversationJson;
use super::present::customer::{CardFieldJson, CardJson, CustomerJson, CustomerUpdateJson, customer_update};
use super::present::{Items, Page, items};
use super::request::{JsonBody, PageQuery, QueryParams, body, query};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(upsert_card, delete_card))
        .routes(routes!(list_customer_conversations))
        .routes(routes!(list_related_conversations))
}

/// A customer's profile.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer")),
    responses((status = 200, description = "The profile", body = CustomerJson)))]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewChannelPreferences {
    /// whatsapp, telephony, webchat, or null for none.
    #[serde(default)]
    preferred: Option<String>,
    /// Channels the customer must not be contacted on.
    #[serde(default)]
    opted_out: Vec<String>,
}

/// Fields left out stay as they are; fields given replace the old value.
#[derive(Debug, Deserialize, ToSchema)]
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

/// Changes a profile; a phone or email that belongs to another profile merges it into this one.
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer")),
    request_body = CustomerChanges,
    responses((status = 200, description = "The profile and the customers merged into it", body = CustomerUpdateJson)))]
async fn update_customer(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    changes: JsonBody<CustomerChanges>,
) -> Result<Json<CustomerUpdateJson>, GatewayError> {
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCard {
    source: String,
    title: String,
    #[serde(default)]
    fields: Vec<CardFieldJson>,
}

/// Adds or replaces the card of a `source` and `title`.
#[utoipa::path(put, path = "/v1/customers/{id}/cards", tag = "customers",
    params(("id" = String, Path, description = "The customer")),
    request_body = NewCard,
    responses((status = 200, description = "The card", body = CardJson)))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CardQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    title: String,
}

/// Whether something was deleted.
#[derive(Debug, Serialize, ToSchema)]
struct Deleted {
    deleted: bool,
}

/// Removes the card of a `source` and `title`.
#[utoipa::path(delete, path = "/v1/customers/{id}/cards", tag = "customers",
    params(("id" = String, Path, description = "The customer"), CardQuery),
    responses((status = 200, description = "Whether there was such a card", body = Deleted)))]
async fn delete_card(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    card: QueryParams<CardQuery>,
) -> Result<Json<Deleted>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let card = query(card)?;
    let request = ctx.request(
        pb::DeleteIntegrationCardRequest { customer_id: id, source: card.source, title: card.title },
        &state.service_token,
    )?;
    let deleted = state.customers.clone().delete_integration_card(request).await?.into_inner();
    Ok(Json(Deleted { deleted: deleted.deleted }))
}

/// The customer's conversations, the most recent first.
#[utoipa::path(get, path = "/v1/customers/{id}/conversations", tag = "customers",
    params(("id" = String, Path, description = "The customer"), PageQuery),
    responses((status = 200, description = "A page of conversations", body = Page<ConversationJson>)))]
async fn list_customer_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    page: QueryParams<PageQuery>,
) -> Result<Json<Page<ConversationJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let page = query(page)?;
    let request = ctx.request(
        pb::ListCustomerConversationsRequest { customer_id: id, page: Some(page.to_proto()) },
        &state.service_token,
    )?;
    let response = state.customers.clone().list_customer_conversations(request).await?.into_inner();
    Ok(Json(Page::new(response.conversations.iter().map(ConversationJson::from).collect(), response.next_cursor)))
}

/// The other conversations of the conversation's customer.
#[utoipa::path(get, path = "/v1/conversations/{id}/related", tag = "customers",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The customer's other conversations", body = Items<ConversationJson>)))]
async fn list_related_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Items<ConversationJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListRelatedConversationsRequest { conversation_id: id }, &state.service_token)?;
    let response = state.customers.clone().list_related_conversations(request).await?.into_inner();
    Ok(Json(items(response.conversations.iter().map(ConversationJson::from))))
}
