//! `inbox.conversation.v1.Customers`.

use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::timestamp_from;
use inbox_service::{CallContext, Role, Visibility};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::error::conversation_not_found;
use super::request::{page_of, parse_id, require_person};
use super::scope::viewer_of;
use crate::domain::customers::{
    ChannelPreferences, IntegrationCard, ProfileUpdate, parse_attributes, parse_card_source, parse_card_title,
    parse_emails, parse_name, parse_phones, parse_segment,
};
use crate::store::{ConversationStore, Cursor, CustomerProfile, IntegrationCardRow};

pub struct CustomersApi {
    pub store: ConversationStore,
}

impl CustomersApi {
    /// A profile as the caller may see it: the customer is the tenant's people's to see, but
    /// their total counts only the conversations the caller may see.
    async fn scoped(
        &self,
        ctx: &CallContext,
        visibility: &Visibility,
        mut profile: CustomerProfile,
    ) -> Result<CustomerProfile, Status> {
        if !visibility.is_all() {
            profile.total_conversations =
                self.store.count_visible_customer_conversations(ctx.tenant_id, profile.id, visibility).await?;
        }
        Ok(profile)
    }
}

fn customer_not_found() -> PublicError {
    PublicError::not_found("customer not found")
}

/// The acting person and the customer the call is about, recorded on the current span.
fn person_on_customer<T>(request: &Request<T>, customer_id: &str) -> Result<(CallContext, Uuid), Status> {
    let ctx = CallContext::of(request)?.clone();
    let id = parse_id(customer_id, "customer_id")?;
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(ctx.tenant_id));
    span.record("customer_id", tracing::field::display(id));
    require_person(&ctx)?;
    Ok((ctx, id))
}

#[tonic::async_trait]
impl pb::customers_server::Customers for CustomersApi {
    #[tracing::instrument(skip_all, fields(tenant_id, customer_id))]
    async fn get_customer(&self, request: Request<pb::GetCustomerRequest>) -> Result<Response<pb::Customer>, Status> {
        let (ctx, id) = person_on_customer(&request, &request.get_ref().customer_id)?;
        let profile = self.store.get_customer(ctx.tenant_id, id).await?.ok_or_else(customer_not_found)?;
        let profile = self.scoped(&ctx, &Visibility::of(&request), profile).await?;
        Ok(Response::new(customer_to_proto(&profile)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, customer_id))]
    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::UpdateCustomerResponse>, Status> {
        let (ctx, id) = person_on_customer(&request, &request.get_ref().customer_id)?;
        let r = request.get_ref();
        // The segment drives priority (VIP is urgent): a team decision, not an agent's.
        if r.segment.is_some() && !matches!(ctx.role, Role::Supervisor | Role::Admin) {
            return Err(PublicError::new(
                ErrorCode::PermissionDenied,
                "changing the segment needs a supervisor or admin",
            )
            .into());
        }
        let update = profile_update(r).map_err(PublicError::invalid_argument)?;
        let updated = self.store.update_customer(ctx.tenant_id, id, &update).await?.ok_or_else(customer_not_found)?;
        if !updated.merged.is_empty() {
            tracing::info!(merged = ?updated.merged, "customers merged");
        }
        let profile = self.scoped(&ctx, &Visibility::of(&request), updated.profile).await?;
        Ok(Response::new(pb::UpdateCustomerResponse {
            customer: Some(customer_to_proto(&profile)),
            merged_customer_ids: updated.merged.iter().map(Uuid::to_string).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, customer_id))]
    async fn upsert_integration_card(
        &self,
        request: Request<pb::UpsertIntegrationCardRequest>,
    ) -> Result<Response<pb::IntegrationCard>, Status> {
        let (ctx, id) = person_on_customer(&request, &request.get_ref().customer_id)?;
        let given = request.get_ref().card.as_ref().ok_or_else(|| PublicError::invalid_argument("card is required"))?;
        let card = IntegrationCard::parse(
            &given.source,
            &given.title,
            given.fields.iter().map(|f| (f.key.clone(), f.value.clone())).collect(),
        )
        .map_err(PublicError::invalid_argument)?;
        let stored =
            self.store.upsert_integration_card(ctx.tenant_id, id, &card).await?.ok_or_else(customer_not_found)?;
        Ok(Response::new(card_to_proto(&stored)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, customer_id))]
    async fn delete_integration_card(
        &self,
        request: Request<pb::DeleteIntegrationCardRequest>,
    ) -> Result<Response<pb::DeleteIntegrationCardResponse>, Status> {
        let (ctx, id) = person_on_customer(&request, &request.get_ref().customer_id)?;
        let r = request.get_ref();
        let source = parse_card_source(&r.source).map_err(PublicError::invalid_argument)?;
        let title = parse_card_title(&r.title).map_err(PublicError::invalid_argument)?;
        let deleted = self
            .store
            .delete_integration_card(ctx.tenant_id, id, &source, &title)
            .await?
            .ok_or_else(customer_not_found)?;
        Ok(Response::new(pb::DeleteIntegrationCardResponse { deleted }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, customer_id))]
    async fn list_customer_conversations(
        &self,
        request: Request<pb::ListCustomerConversationsRequest>,
    ) -> Result<Response<pb::ListCustomerConversationsResponse>, Status> {
        let (ctx, id) = person_on_customer(&request, &request.get_ref().customer_id)?;
        let (limit, cursor) = page_of(request.get_ref().page.as_ref(), Cursor::decode)?;
        let (rows, next) = self
            .store
            .list_customer_conversations(ctx.tenant_id, id, &viewer_of(&ctx, &request), limit, cursor)
            .await?
            .ok_or_else(customer_not_found)?;
        Ok(Response::new(pb::ListCustomerConversationsResponse {
            conversations: rows.iter().map(|r| r.to_proto()).collect(),
            next_cursor: next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn list_related_conversations(
        &self,
        request: Request<pb::ListRelatedConversationsRequest>,
    ) -> Result<Response<pb::ListRelatedConversationsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
        let span = tracing::Span::current();
        span.record("tenant_id", tracing::field::display(ctx.tenant_id));
        span.record("conversation_id", tracing::field::display(id));
        require_person(&ctx)?;
        let rows = self
            .store
            .list_related_conversations(ctx.tenant_id, id, &viewer_of(&ctx, &request))
            .await?
            .ok_or_else(conversation_not_found)?;
        Ok(Response::new(pb::ListRelatedConversationsResponse {
            conversations: rows.iter().map(|r| r.to_proto()).collect(),
        }))
    }
}

/// The change a request asks for, validated whole before anything is written.
fn profile_update(r: &pb::UpdateCustomerRequest) -> Result<ProfileUpdate, String> {
    let channel = |value: i32, field: &str| {
        Channel::try_from(value)
            .ok()
            .filter(|c| *c != Channel::Unspecified)
            .ok_or_else(|| format!("{field}: channels must be whatsapp, telephony or webchat"))
    };
    let channel_preferences = match &r.channel_preferences {
        Some(p) => {
            let preferred = match p.preferred {
                0 => None,
                value => Some(channel(value, "channel_preferences.preferred")?),
            };
            let opted_out = p
                .opted_out
                .iter()
                .map(|value| channel(*value, "channel_preferences.opted_out"))
                .collect::<Result<Vec<_>, _>>()?;
            Some(ChannelPreferences::new(preferred, opted_out)?)
        }
        None => None,
    };
    Ok(ProfileUpdate {
        display_name: r.display_name.as_deref().map(parse_name).transpose()?,
        phones: r.phones.as_ref().map(|p| parse_phones(&p.values)).transpose()?,
        emails: r.emails.as_ref().map(|e| parse_emails(&e.values)).transpose()?,
        channel_preferences,
        segment: r.segment.as_deref().map(parse_segment).transpose()?,
        attributes: r
            .attributes
            .as_ref()
            .map(|a| parse_attributes(a.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
            .transpose()?,
    })
}

fn customer_to_proto(p: &CustomerProfile) -> pb::Customer {
    let prefs = &p.fields.channel_preferences;
    pb::Customer {
        id: p.id.to_string(),
        tenant_id: p.tenant_id.to_string(),
        display_name: p.fields.display_name.clone(),
        phones: p.phones.clone(),
        emails: p.emails.clone(),
        identities: p
            .identities
            .iter()
            .map(|i| pb::ChannelIdentity {
                channel: inbox_bus::subjects::channel_from_token(&i.channel).unwrap_or(Channel::Unspecified) as i32,
                address: i.address.clone(),
                created_at: Some(timestamp_from(i.created_at)),
            })
            .collect(),
        channel_preferences: Some(pb::ChannelPreferences {
            preferred: prefs.preferred.unwrap_or(Channel::Unspecified) as i32,
            opted_out: prefs.opted_out.iter().map(|c| *c as i32).collect(),
        }),
        segment: p.fields.segment.clone(),
        attributes: p.fields.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        cards: p.cards.iter().map(card_to_proto).collect(),
        total_conversations: p.total_conversations,
        created_at: Some(timestamp_from(p.created_at)),
        updated_at: Some(timestamp_from(p.updated_at)),
    }
}

fn card_to_proto(card: &IntegrationCardRow) -> pb::IntegrationCard {
    pb::IntegrationCard {
        source: card.source.clone(),
        title: card.title.clone(),
        fields: card
            .fields
            .iter()
            .map(|(key, value)| pb::IntegrationField { key: key.clone(), value: value.clone() })
            .collect(),
        updated_at: Some(timestamp_from(card.updated_at)),
    }
}
