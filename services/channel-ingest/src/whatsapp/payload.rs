//! The documented shape of a WhatsApp Cloud API webhook (`object` =
//! `whatsapp_business_account`). Unknown fields are ignored; every message keeps its raw JSON
//! so types this version does not model are still kept.

use std::collections::HashSet;

use serde::Deserialize;

/// Meta batches at most 1,000 updates into one webhook ("Event notifications are aggregated
/// and sent in a batch with a maximum of 1000 updates", Graph API Webhooks, Getting Started).
/// Each entry, each change and each message or status is at least one update, so a webhook
/// with more of any is not Meta's: refused before any account is looked up.
pub const MAX_UPDATES: usize = 1000;

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookPayload {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// WhatsApp Business Account id.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    /// `messages` for messages and statuses; other fields (account updates...) are not ours yet.
    pub field: String,
    #[serde(default)]
    pub value: ChangeValue,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChangeValue {
    #[serde(default)]
    pub messaging_product: String,
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub messages: Vec<serde_json::Value>,
    #[serde(default)]
    pub statuses: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: String,
    pub phone_number_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub wa_id: String,
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub name: String,
}

/// A status update of one of our outbound messages (`value.statuses[]`).
#[derive(Debug, Clone, Deserialize)]
pub struct StatusUpdate {
    /// The wamid of our message.
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed` (others, like `deleted`, are ignored).
    pub status: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    #[serde(default)]
    pub recipient_id: String,
    #[serde(default)]
    pub errors: Vec<GraphError>,
}

/// One error in a failed status (or an unsupported message): Meta's documented shape.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorData {
    #[serde(default)]
    pub details: String,
}

impl GraphError {
    /// The most specific explanation Meta gave.
    pub fn details(&self) -> String {
        match self.error_data.as_ref().map(|d| d.details.as_str()).filter(|d| !d.is_empty()) {
            Some(details) => details.to_owned(),
            None => self.message.clone(),
        }
    }
}

/// The fields every message carries, read from its raw JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageHeader {
    pub from: String,
    pub id: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("object must be \"whatsapp_business_account\", got {0:?}")]
    WrongObject(String),
    #[error("entry[{entry}].changes[{change}].value.metadata.phone_number_id is missing")]
    MissingPhoneNumberId { entry: usize, change: usize },
    #[error("entry[{entry}].changes[{change}].value.messages[{message}]: {reason}")]
    BadMessage { entry: usize, change: usize, message: usize, reason: String },
    #[error("entry[{entry}].changes[{change}].value.statuses[{status}]: {reason}")]
    BadStatus { entry: usize, change: usize, status: usize, reason: String },
    #[error(
        "the payload names no phone_number_id nor WhatsApp Business Account id, so no channel account can be identified"
    )]
    NoAccount,
    #[error("the payload has {count} {what}; Meta sends at most {MAX_UPDATES} updates in one webhook")]
    OverCap { what: &'static str, count: usize },
}

/// The distinct items, in order of first appearance (linear: payloads are attacker-sized).
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(*item)).collect()
}

impl WebhookPayload {
    /// Parses and validates a webhook body.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let payload: WebhookPayload = serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
        if payload.object != "whatsapp_business_account" {
            return Err(PayloadError::WrongObject(payload.object));
        }
        payload.check_caps()?;
        for (e, entry) in payload.entry.iter().enumerate() {
            for (c, change) in entry.changes.iter().enumerate() {
                if change.field != "messages" {
                    continue;
                }
                if change.value.metadata.as_ref().is_none_or(|m| m.phone_number_id.is_empty()) {
                    return Err(PayloadError::MissingPhoneNumberId { entry: e, change: c });
                }
                for (m, message) in change.value.messages.iter().enumerate() {
                    let header = MessageHeader::deserialize(message).map_err(|err| PayloadError::BadMessage {
                        entry: e,
                        change: c,
                        message: m,
                        reason: err.to_string(),
                    })?;
                    if header.timestamp.parse::<i64>().is_err() {
                        return Err(PayloadError::BadMessage {
                            entry: e,
                            change: c,
                            message: m,
                            reason: format!("timestamp {:?} is not unix seconds", header.timestamp),
                        });
                    }
                }
                for (n, status) in change.value.statuses.iter().enumerate() {
                    let bad = |reason: String| PayloadError::BadStatus { entry: e, change: c, status: n, reason };
                    let update: StatusUpdate = StatusUpdate::deserialize(status).map_err(|err| bad(err.to_string()))?;
                    if update.timestamp.parse::<i64>().is_err() {
                        return Err(bad(format!("timestamp {:?} is not unix seconds", update.timestamp)));
                    }
                }
            }
        }
        if payload.phone_number_ids().is_empty() && payload.business_account_ids().is_empty() {
            return Err(PayloadError::NoAccount);
        }
        Ok(payload)
    }

    /// Refuses a payload with more entries, changes, or messages and statuses than Meta puts
    /// in one webhook ([`MAX_UPDATES`]).
    fn check_caps(&self) -> Result<(), PayloadError> {
        let over = |what, count| if count > MAX_UPDATES { Err(PayloadError::OverCap { what, count }) } else { Ok(()) };
        over("entries", self.entry.len())?;
        let changes = self.entry.iter().flat_map(|e| &e.changes);
        over("changes", changes.clone().count())?;
        over("messages and statuses", changes.map(|c| c.value.messages.len() + c.value.statuses.len()).sum())
    }

    /// The distinct WhatsApp Business Account ids (`entry[].id`) of entries with changes of
    /// other fields than `messages` (template status, account or quality updates), which name
    /// no phone number; in order of appearance.
    pub fn business_account_ids(&self) -> Vec<&str> {
        distinct(
            self.entry
                .iter()
                .filter(|entry| !entry.id.is_empty() && entry.changes.iter().any(|c| c.field != "messages"))
                .map(|entry| entry.id.as_str()),
        )
    }

    /// The fields of the changes that are not `messages`, for the log.
    pub fn other_fields(&self) -> Vec<&str> {
        distinct(
            self.entry.iter().flat_map(|e| &e.changes).map(|c| c.field.as_str()).filter(|field| *field != "messages"),
        )
    }

    /// The distinct `metadata.phone_number_id`s the payload is about, in order of appearance.
    pub fn phone_number_ids(&self) -> Vec<&str> {
        distinct(
            self.entry
                .iter()
                .flat_map(|e| &e.changes)
                .filter_map(|change| change.value.metadata.as_ref())
                .map(|meta| meta.phone_number_id.as_str())
                .filter(|id| !id.is_empty()),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn with_entries(entries: Vec<Value>) -> Vec<u8> {
        json!({"object": "whatsapp_business_account", "entry": entries}).to_string().into_bytes()
    }

    fn status(n: usize) -> Value {
        json!({"id": format!("wamid.{n}"), "status": "read", "timestamp": "1749416383"})
    }

    #[test]
    fn more_entries_changes_or_updates_than_meta_batches_are_refused() {
        let entries = |n: usize| (0..n).map(|i| json!({"id": i.to_string(), "changes": [{"field": "x"}]})).collect();
        assert!(WebhookPayload::parse(&with_entries(entries(MAX_UPDATES))).is_ok());
        assert_eq!(
            WebhookPayload::parse(&with_entries(entries(MAX_UPDATES + 1))).unwrap_err(),
            PayloadError::OverCap { what: "entries", count: MAX_UPDATES + 1 }
        );
        let changes: Vec<Value> = (0..=MAX_UPDATES).map(|_| json!({"field": "x"})).collect();
        let err = WebhookPayload::parse(&with_entries(vec![json!({"id": "1", "changes": changes})])).unwrap_err();
        assert_eq!(err, PayloadError::OverCap { what: "changes", count: MAX_UPDATES + 1 });
        let statuses: Vec<Value> = (0..=MAX_UPDATES).map(status).collect();
        let change =
            json!({"field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "statuses": statuses}});
        let err = WebhookPayload::parse(&with_entries(vec![json!({"id": "1", "changes": [change]})])).unwrap_err();
        assert_eq!(err, PayloadError::OverCap { what: "messages and statuses", count: MAX_UPDATES + 1 });
        assert!(err.to_string().contains("at most 1000 updates"), "{err}");
    }

    #[test]
    fn ids_are_distinct_in_order_of_appearance() {
        let change = |id: &str| json!({"field": "messages", "value": {"metadata": {"phone_number_id": id}}});
        let body = with_entries(vec![
            json!({"id": "9", "changes": [change("2"), change("1"), change("2")]}),
            json!({"id": "8", "changes": [change("1"), {"field": "account_update"}]}),
            json!({"id": "8", "changes": [{"field": "security"}, {"field": "account_update"}]}),
        ]);
        let payload = WebhookPayload::parse(&body).unwrap();
        assert_eq!(payload.phone_number_ids(), ["2", "1"]);
        assert_eq!(payload.business_account_ids(), ["8"]);
        assert_eq!(payload.other_fields(), ["account_update", "security"]);
    }
}
