//! Conversation history as a file: JSON, CSV (RFC 4180) or a readable transcript, with every
//! time in the tenant's zone.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::TenantSettings;
use super::plain_text;
use crate::store::{ConversationRow, MessageRow};

/// Most conversations one export request may name.
pub const MAX_EXPORT_CONVERSATIONS: usize = 1000;
/// Largest export file; a bigger one must be split into several requests.
pub const MAX_EXPORT_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Text,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/json",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Text => "text/plain; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
            ExportFormat::Text => "txt",
        }
    }
}

/// A conversation as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedConversation {
    pub id: Uuid,
    /// Channel token: `whatsapp`, `telephony`, `webchat`.
    pub channel: String,
    /// The contact's display name; empty when the provider gave none.
    pub customer_name: String,
    pub customer_address: String,
    pub status: String,
    pub priority: String,
    pub created_at: DateTime<Utc>,
    /// Oldest first.
    pub messages: Vec<ExportedMessage>,
}

/// A message as exported: what the export needs, decoupled from the stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedMessage {
    pub id: Uuid,
    pub sent_at: DateTime<Utc>,
    pub sender_kind: String,
    pub sender_id: String,
    pub internal_note: bool,
    pub text: String,
    /// Set on AI messages.
    pub ai_confidence: Option<f32>,
}

impl ExportedConversation {
    /// A stored conversation and its messages (in order).
    pub fn from_rows(conversation: &ConversationRow, messages: &[MessageRow]) -> Self {
        Self {
            id: conversation.id,
            channel: conversation.channel.clone(),
            customer_name: conversation.contact_name.clone(),
            customer_address: conversation.customer_address.clone(),
            status: conversation.status.clone(),
            priority: conversation.priority.clone(),
            created_at: conversation.created_at,
            messages: messages.iter().map(ExportedMessage::from_row).collect(),
        }
    }

    /// The customer as people read it: the name, or the address when there is none.
    pub fn customer_display_name(&self) -> &str {
        if self.customer_name.trim().is_empty() { &self.customer_address } else { &self.customer_name }
    }
}

impl ExportedMessage {
    pub fn from_row(row: &MessageRow) -> Self {
        let message = row.to_proto();
        Self {
            id: row.id,
            sent_at: row.sent_at,
            sender_kind: row.sender_kind.clone(),
            sender_id: row.sender_id.clone(),
            internal_note: row.internal_note,
            text: message.content.as_ref().map(plain_text).unwrap_or_default(),
            ai_confidence: row.ai_confidence,
        }
    }
}

/// The file name: `conversation-<id>.<ext>` for one, `conversations-<today>.<ext>` for several.
pub fn filename(
    conversations: &[ExportedConversation],
    format: ExportFormat,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> String {
    match conversations {
        [one] => format!("conversation-{}.{}", one.id, format.extension()),
        _ => format!("conversations-{}.{}", settings.local(now).format("%Y-%m-%d"), format.extension()),
    }
}

/// Names for senders other than the customer (`user:<id>` → "Sarah"); ids not named are shown
/// as they are.
pub type SenderNames = HashMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("csv buffer: {0}")]
    Buffer(String),
}

/// The export file's content.
pub fn write_export(
    conversations: &[ExportedConversation],
    format: ExportFormat,
    settings: &TenantSettings,
    names: &SenderNames,
) -> Result<Vec<u8>, ExportError> {
    match format {
        ExportFormat::Json => write_json(conversations, settings),
        ExportFormat::Csv => write_csv(conversations, settings, names),
        ExportFormat::Text => Ok(write_transcript(conversations, settings, names).into_bytes()),
    }
}

fn rfc3339_local(settings: &TenantSettings, at: DateTime<Utc>) -> String {
    settings.local(at).to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[derive(Serialize)]
struct ConversationJson<'a> {
    id: Uuid,
    channel: &'a str,
    customer: CustomerJson<'a>,
    status: &'a str,
    priority: &'a str,
    created_at: String,
    messages: Vec<MessageJson<'a>>,
}

#[derive(Serialize)]
struct CustomerJson<'a> {
    name: &'a str,
    address: &'a str,
}

#[derive(Serialize)]
struct MessageJson<'a> {
    id: Uuid,
    sent_at: String,
    sender_kind: &'a str,
    sender_id: &'a str,
    internal_note: bool,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ai_confidence: Option<f32>,
}

/// One object for one conversation, an array for several.
fn write_json(conversations: &[ExportedConversation], settings: &TenantSettings) -> Result<Vec<u8>, ExportError> {
    let objects: Vec<ConversationJson<'_>> = conversations
        .iter()
        .map(|c| ConversationJson {
            id: c.id,
            channel: &c.channel,
            customer: CustomerJson { name: &c.customer_name, address: &c.customer_address },
            status: &c.status,
            priority: &c.priority,
            created_at: rfc3339_local(settings, c.created_at),
            messages: c
                .messages
                .iter()
                .map(|m| MessageJson {
                    id: m.id,
                    sent_at: rfc3339_local(settings, m.sent_at),
                    sender_kind: &m.sender_kind,
                    sender_id: &m.sender_id,
                    internal_note: m.internal_note,
                    text: &m.text,
                    ai_confidence: m.ai_confidence,
                })
                .collect(),
        })
        .collect();
    let mut content = match objects.as_slice() {
        [one] => serde_json::to_vec_pretty(one)?,
        many => serde_json::to_vec_pretty(many)?,
    };
    content.push(b'\n');
    Ok(content)
}

const CSV_HEADER: [&str; 9] = [
    "conversation_id",
    "channel",
    "customer",
    "sent_at",
    "sender_kind",
    "sender",
    "internal_note",
    "ai_confidence",
    "text",
];

/// One row per message, every conversation in one file.
fn write_csv(
    conversations: &[ExportedConversation],
    settings: &TenantSettings,
    names: &SenderNames,
) -> Result<Vec<u8>, ExportError> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    for conversation in conversations {
        let id = conversation.id.to_string();
        let customer = customer_label(conversation);
        for message in &conversation.messages {
            writer.write_record([
                id.as_str(),
                conversation.channel.as_str(),
                customer.as_str(),
                rfc3339_local(settings, message.sent_at).as_str(),
                message.sender_kind.as_str(),
                sender_name(conversation, message, names),
                if message.internal_note { "true" } else { "false" },
                message.ai_confidence.map(|c| format!("{c:.2}")).unwrap_or_default().as_str(),
                message.text.as_str(),
            ])?;
        }
    }
    writer.into_inner().map_err(|e| ExportError::Buffer(e.to_string()))
}

/// "Ana (15551230001)", or the address alone when the customer has no name.
fn customer_label(conversation: &ExportedConversation) -> String {
    if conversation.customer_name.trim().is_empty() {
        conversation.customer_address.clone()
    } else {
        format!("{} ({})", conversation.customer_name, conversation.customer_address)
    }
}

fn sender_name<'a>(
    conversation: &'a ExportedConversation,
    message: &'a ExportedMessage,
    names: &'a SenderNames,
) -> &'a str {
    if let Some(name) = names.get(&message.sender_id).filter(|n| !n.trim().is_empty()) {
        return name;
    }
    match message.sender_kind.as_str() {
        "customer" => conversation.customer_display_name(),
        "ai" => "AI agent",
        "system" => "System",
        _ => &message.sender_id,
    }
}

fn channel_label(token: &str) -> &str {
    match token {
        "whatsapp" => "WhatsApp",
        "telephony" => "Phone",
        "webchat" => "Web chat",
        other => other,
    }
}

/// Separates conversations in a transcript.
const RULE: &str = "----------------------------------------------------------------------";

/// A header per conversation, then one line per message:
/// `[2026-11-24 14:05] Ana (customer, WhatsApp): Hello, my order has not arrived`.
fn write_transcript(conversations: &[ExportedConversation], settings: &TenantSettings, names: &SenderNames) -> String {
    let zone = settings.time_zone.name();
    let mut out = String::new();
    for (i, conversation) in conversations.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(RULE);
            out.push_str("\n\n");
        }
        let channel = channel_label(&conversation.channel);
        out.push_str(&format!("Conversation with {}\n", customer_label(conversation)));
        out.push_str(&format!(
            "Channel: {channel} | Status: {} | Priority: {} | Time zone: {zone}\n",
            conversation.status, conversation.priority
        ));
        out.push_str(&format!(
            "Started: {} | Conversation id: {}\n\n",
            settings.local(conversation.created_at).format("%Y-%m-%d %H:%M"),
            conversation.id
        ));
        for message in &conversation.messages {
            let role = match (message.sender_kind.as_str(), message.ai_confidence) {
                ("customer", _) => format!("customer, {channel}"),
                ("ai", Some(confidence)) => format!("AI, confidence {confidence:.2}"),
                ("ai", None) => "AI".to_owned(),
                (kind, _) => kind.to_owned(),
            };
            let note = if message.internal_note { " [internal note]" } else { "" };
            // Continuation lines are indented so every message starts at the left margin.
            let text = message.text.lines().collect::<Vec<_>>().join("\n    ");
            out.push_str(&format!(
                "[{}] {} ({role}){note}: {text}\n",
                settings.local(message.sent_at).format("%Y-%m-%d %H:%M"),
                sender_name(conversation, message, names),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn paris() -> TenantSettings {
        TenantSettings::parse("Europe/Paris", "Acme", 0.6, "x").unwrap()
    }

    fn message(minute: u32, kind: &str, sender: &str, text: &str) -> ExportedMessage {
        ExportedMessage {
            id: Uuid::from_u128(u128::from(minute) + 100),
            sent_at: at(&format!("2026-11-24T13:{minute:02}:00Z")),
            sender_kind: kind.into(),
            sender_id: sender.into(),
            internal_note: false,
            text: text.into(),
            ai_confidence: None,
        }
    }

    fn conversation() -> ExportedConversation {
        ExportedConversation {
            id: Uuid::from_u128(1),
            channel: "whatsapp".into(),
            customer_name: "Ana".into(),
            customer_address: "15551230001".into(),
            status: "active".into(),
            priority: "normal".into(),
            created_at: at("2026-11-24T13:05:00Z"),
            messages: vec![
                message(5, "customer", "15551230001", "Hello, my order has not arrived"),
                ExportedMessage {
                    ai_confidence: Some(0.82),
                    ..message(6, "ai", "ai:assistant", "Let me check that for you.")
                },
                ExportedMessage { internal_note: true, ..message(7, "agent", "user:1", "Check the CRM") },
                message(8, "agent", "user:1", "It ships today,\nsorry for the wait"),
            ],
        }
    }

    fn names() -> SenderNames {
        [("user:1".to_owned(), "Sarah".to_owned())].into_iter().collect()
    }

    #[test]
    fn a_transcript_reads_like_the_conversation_in_the_tenant_zone() {
        let text = String::from_utf8(write_export(&[conversation()], ExportFormat::Text, &paris(), &names()).unwrap())
            .unwrap();
        let expected = "Conversation with Ana (15551230001)\n\
            Channel: WhatsApp | Status: active | Priority: normal | Time zone: Europe/Paris\n\
            Started: 2026-11-24 14:05 | Conversation id: 00000000-0000-0000-0000-000000000001\n\
            \n\
            [2026-11-24 14:05] Ana (customer, WhatsApp): Hello, my order has not arrived\n\
            [2026-11-24 14:06] AI agent (AI, confidence 0.82): Let me check that for you.\n\
            [2026-11-24 14:07] Sarah (agent) [internal note]: Check the CRM\n\
            [2026-11-24 14:08] Sarah (agent): It ships today,\n    sorry for the wait\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn conversations_in_one_transcript_are_separated_by_a_blank_line_and_a_rule() {
        let second = ExportedConversation { id: Uuid::from_u128(2), customer_name: String::new(), ..conversation() };
        let text =
            String::from_utf8(write_export(&[conversation(), second], ExportFormat::Text, &paris(), &names()).unwrap())
                .unwrap();
        assert!(text.contains(&format!("sorry for the wait\n\n{RULE}\n\nConversation with 15551230001\n")));
        // A customer without a name is shown by address.
        assert!(text.contains("15551230001 (customer, WhatsApp): Hello"));
    }

    #[test]
    fn json_has_one_object_per_conversation_with_local_times() {
        let content = write_export(&[conversation()], ExportFormat::Json, &paris(), &names()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&content).unwrap();
        assert_eq!(value["id"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(value["customer"]["name"], "Ana");
        assert_eq!(value["customer"]["address"], "15551230001");
        assert_eq!(value["created_at"], "2026-11-24T14:05:00+01:00");
        let messages = value["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[0]["sent_at"], "2026-11-24T14:05:00+01:00");
        assert_eq!(messages[0]["sender_kind"], "customer");
        assert!(messages[0].get("ai_confidence").is_none(), "only AI messages carry a confidence");
        assert_eq!(messages[1]["ai_confidence"].as_f64().map(|c| (c * 100.0).round()), Some(82.0));
        assert_eq!(messages[2]["internal_note"], true);

        let many = write_export(&[conversation(), conversation()], ExportFormat::Json, &paris(), &names()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&many).unwrap();
        assert_eq!(value.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines_and_has_one_row_per_message() {
        let mut c = conversation();
        c.messages = vec![message(5, "customer", "15551230001", "Hi, it's \"urgent\"\nreally")];
        let content = write_export(&[c], ExportFormat::Csv, &paris(), &names()).unwrap();
        let text = String::from_utf8(content.clone()).unwrap();
        assert!(text.starts_with(
            "conversation_id,channel,customer,sent_at,sender_kind,sender,internal_note,ai_confidence,text\r\n"
        ));
        assert!(text.contains(",\"Hi, it's \"\"urgent\"\"\nreally\"\r\n"), "{text}");

        // And a CSV reader gets every field back.
        let mut reader = csv::Reader::from_reader(content.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][2], "Ana (15551230001)");
        assert_eq!(&rows[0][3], "2026-11-24T14:05:00+01:00");
        assert_eq!(&rows[0][8], "Hi, it's \"urgent\"\nreally");
    }

    #[test]
    fn csv_names_senders_and_carries_the_ai_confidence() {
        let content = write_export(&[conversation(), conversation()], ExportFormat::Csv, &paris(), &names()).unwrap();
        let mut reader = csv::Reader::from_reader(content.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 8, "every message of both conversations");
        assert_eq!((&rows[1][4], &rows[1][5], &rows[1][7]), ("ai", "AI agent", "0.82"));
        assert_eq!((&rows[2][5], &rows[2][6]), ("Sarah", "true"));
        // A sender the gateway did not name appears by id.
        let unnamed = write_export(&[conversation()], ExportFormat::Csv, &paris(), &SenderNames::new()).unwrap();
        assert!(String::from_utf8(unnamed).unwrap().contains(",agent,user:1,"));
    }

    #[test]
    fn times_follow_the_tenant_zone() {
        let la = TenantSettings::parse("America/Los_Angeles", "", 0.6, "x").unwrap();
        let text =
            String::from_utf8(write_export(&[conversation()], ExportFormat::Text, &la, &names()).unwrap()).unwrap();
        assert!(text.contains("[2026-11-24 05:05] Ana (customer, WhatsApp)"));
        assert!(text.contains("Time zone: America/Los_Angeles"));
    }

    #[test]
    fn file_names_name_the_conversation_or_the_day() {
        let now = at("2026-11-24T23:30:00Z");
        assert_eq!(
            filename(&[conversation()], ExportFormat::Csv, &paris(), now),
            "conversation-00000000-0000-0000-0000-000000000001.csv"
        );
        // Already the 25th in Paris.
        assert_eq!(
            filename(&[conversation(), conversation()], ExportFormat::Json, &paris(), now),
            "conversations-2026-11-25.json"
        );
        assert_eq!(ExportFormat::Text.content_type(), "text/plain; charset=utf-8");
    }
}
