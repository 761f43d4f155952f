//! A customer profile: identities on each channel, channel preferences, integration cards.

use std::collections::BTreeMap;

use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::time;
use crate::api::names::channel_name;

/// Where the customer is reached on one channel.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChannelIdentity)]
pub struct ChannelIdentityJson {
    pub channel: &'static str,
    pub address: String,
    pub created_at: Option<String>,
}

/// The channel the customer prefers and those they opted out of.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChannelPreferences)]
pub struct ChannelPreferencesJson {
    /// `null` for no preference.
    pub preferred: Option<&'static str>,
    pub opted_out: Vec<&'static str>,
}

/// One line of an integration card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = CardField)]
pub struct CardFieldJson {
    pub key: String,
    pub value: String,
}

/// What an integration (a shop, a CRM) shows about the customer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IntegrationCard)]
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

/// A customer profile.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer)]
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
                    channel: channel_name(i.channel),
                    address: i.address.clone(),
                    created_at: time(i.created_at.as_ref()),
                })
                .collect(),
            channel_preferences: ChannelPreferencesJson {
                preferred: (prefs.preferred != Channel::Unspecified as i32).then(|| channel_name(prefs.preferred)),
                opted_out: prefs.opted_out.iter().map(|c| channel_name(*c)).collect(),
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

/// The profile after a change, and the customers merged into it by the change.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CustomerUpdate)]
pub struct CustomerUpdateJson {
    pub customer: Option<CustomerJson>,
    pub merged_customer_ids: Vec<String>,
}

/// The profile after a change, and the customers merged into it by the change.
pub fn customer_update(u: &pb::UpdateCustomerResponse) -> CustomerUpdateJson {
    CustomerUpdateJson {
        customer: u.customer.as_ref().map(CustomerJson::from),
        merged_customer_ids: u.merged_customer_ids.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_customer_shows_identities_preferences_attributes_and_cards() {
        let customer = pb::Customer {
            id: "k1".into(),
            display_name: "Ana Lima".into(),
            phones: vec!["+15551234567".into()],
            identities: vec![pb::ChannelIdentity {
                channel: Channel::Whatsapp as i32,
                address: "15551234567".into(),
                ..Default::default()
            }],
            channel_preferences: Some(pb::ChannelPreferences {
                preferred: Channel::Whatsapp as i32,
                opted_out: vec![Channel::Telephony as i32],
            }),
            attributes: [("plan".to_owned(), "gold".to_owned()), ("city".to_owned(), "Lisbon".to_owned())].into(),
            cards: vec![pb::IntegrationCard {
                source: "shopify".into(),
                title: "Orders".into(),
                fields: vec![pb::IntegrationField { key: "last".into(), value: "#1001".into() }],
                updated_at: None,
            }],
            total_conversations: 3,
            ..Default::default()
        };
        let json = serde_json::to_value(CustomerJson::from(&customer)).unwrap();
        assert_eq!(json["identities"], json!([{"channel": "whatsapp", "address": "15551234567", "created_at": null}]));
        assert_eq!(json["channel_preferences"], json!({"preferred": "whatsapp", "opted_out": ["telephony"]}));
        assert_eq!(json["attributes"], json!({"city": "Lisbon", "plan": "gold"}));
        assert_eq!(json["cards"][0]["fields"], json!([{"key": "last", "value": "#1001"}]));
        assert_eq!(json["total_conversations"], 3);
    }

    #[test]
    fn a_customer_without_preferences_prefers_no_channel() {
        let json = serde_json::to_value(CustomerJson::from(&pb::Customer::default())).unwrap();
        assert_eq!(json["channel_preferences"], json!({"preferred": Value::Null, "opted_out": []}));
    }

    #[test]
    fn an_update_names_the_customers_merged_into_the_profile() {
        let updated = pb::UpdateCustomerResponse {
            customer: Some(pb::Customer { id: "k1".into(), ..Default::default() }),
            merged_customer_ids: vec!["k2".into()],
        };
        let json = serde_json::to_value(customer_update(&updated)).unwrap();
        assert_eq!((&json["customer"]["id"], &json["merged_customer_ids"]), (&json!("k1"), &json!(["k2"])));
    }
}
