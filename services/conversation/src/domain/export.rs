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
/// Most bytes in one streamed part of an export file.
pub const EXPORT_CHUNK_BYTES: usize = 64 * 1024;

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
    /// Oldest first. Empty in a streamed export, whose messages go to [`ExportWriter`] a page
    /// at a time.
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
pub fn filename(ids: &[Uuid], format: ExportFormat, settings: &TenantSettings, now: DateTime<Utc>) -> String {
    match ids {
        [one] => format!("conversation-{one}.{}", format.extension()),
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

/// The whole export file of `conversations` with their messages (what [`ExportWriter`]
/// produces piece by piece).
pub fn write_export(
    conversations: &[ExportedConversation],
    format: ExportFormat,
    settings: &TenantSettings,
    names: &SenderNames,
) -> Result<Vec<u8>, ExportError> {
    let mut writer = ExportWriter::new(format, settings.clone(), names.clone(), conversations.len() != 1);
    writer.begin()?;
    for conversation in conversations {
        writer.begin_conversation(conversation)?;
        writer.messages(conversation, &conversation.messages)?;
        writer.end_conversation();
    }
    writer.finish();
    Ok(writer.take())
}

/// Writes an export a piece at a time, so a file of any size is made with one page of
/// messages in memory: [`begin`](Self::begin), then for each conversation
/// [`begin_conversation`](Self::begin_conversation), its messages oldest first in any number
/// of [`messages`](Self::messages) calls and [`end_conversation`](Self::end_conversation),
/// then [`finish`](Self::finish). What [`take`](Self::take) returns along the way, joined, is
/// the file.
pub struct ExportWriter {
    format: ExportFormat,
    settings: TenantSettings,
    names: SenderNames,
    /// JSON: an array of conversations rather than one object.
    several: bool,
    out: Vec<u8>,
    conversations_begun: usize,
    messages_in_conversation: usize,
}

impl ExportWriter {
    /// `several`: whether the file holds more than one conversation (JSON writes an array).
    pub fn new(format: ExportFormat, settings: TenantSettings, names: SenderNames, several: bool) -> Self {
        Self { format, settings, names, several, out: Vec::new(), conversations_begun: 0, messages_in_conversation: 0 }
    }

    /// Bytes written and not yet taken.
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// The bytes written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn begin(&mut self) -> Result<(), ExportError> {
        match self.format {
            ExportFormat::Json if self.several => self.out.push(b'['),
            ExportFormat::Json | ExportFormat::Text => {}
            ExportFormat::Csv => self.out.extend(csv_records([CSV_HEADER])?),
        }
        Ok(())
    }

    /// `conversation`'s heading (its `messages` are not written: they come through
    /// [`messages`](Self::messages)).
    pub fn begin_conversation(&mut self, conversation: &ExportedConversation) -> Result<(), ExportError> {
        let first = self.conversations_begun == 0;
        self.conversations_begun += 1;
        self.messages_in_conversation = 0;
        match self.format {
            ExportFormat::Json => {
                if self.several {
                    self.out.extend_from_slice(if first { b"\n" } else { b",\n" });
                }
                let head = ConversationJson {
                    id: conversation.id,
                    channel: &conversation.channel,
                    customer: CustomerJson {
                        name: &conversation.customer_name,
                        address: &conversation.customer_address,
                    },
                    status: &conversation.status,
                    priority: &conversation.priority,
                    created_at: rfc3339_local(&self.settings, conversation.created_at),
                };
                // A struct's pretty form ends with its closing brace on a line of its own; the
                // messages array goes before it.
                let head = serde_json::to_string_pretty(&head)?;
                let open = head.strip_suffix("\n}").unwrap_or(&head);
                let indent = self.json_indent();
                push_indented(&mut self.out, &format!("{open},\n  \"messages\": ["), indent);
            }
            ExportFormat::Csv => {}
            ExportFormat::Text => self.out.extend(transcript_heading(conversation, &self.settings, first).into_bytes()),
        }
        Ok(())
    }

    /// The next messages of the conversation begun last, oldest first.
    pub fn messages(
        &mut self,
        conversation: &ExportedConversation,
        messages: &[ExportedMessage],
    ) -> Result<(), ExportError> {
        match self.format {
            ExportFormat::Json => {
                let indent = self.json_indent() + 4;
                for m in messages {
                    let json = MessageJson {
                        id: m.id,
                        sent_at: rfc3339_local(&self.settings, m.sent_at),
                        sender_kind: &m.sender_kind,
                        sender_id: &m.sender_id,
                        internal_note: m.internal_note,
                        text: &m.text,
                        ai_confidence: m.ai_confidence,
                    };
                    let json = serde_json::to_string_pretty(&json)?;
                    self.out.extend_from_slice(if self.messages_in_conversation == 0 { b"\n" } else { b",\n" });
                    push_indented(&mut self.out, &json, indent);
                    self.messages_in_conversation += 1;
                }
            }
            ExportFormat::Csv => {
                self.out.extend(csv_records(csv_rows(conversation, messages, &self.settings, &self.names))?);
            }
            ExportFormat::Text => {
                for message in messages {
                    let line = transcript_line(conversation, message, &self.settings, &self.names);
                    self.out.extend(line.into_bytes());
                }
            }
        }
        Ok(())
    }

    pub fn end_conversation(&mut self) {
        if self.format == ExportFormat::Json {
            let indent = self.json_indent();
            if self.messages_in_conversation > 0 {
                self.out.push(b'\n');
                push_indented(&mut self.out, "  ]\n}", indent);
            } else {
                self.out.extend_from_slice(b"]\n");
                push_indented(&mut self.out, "}", indent);
            }
        }
    }

    pub fn finish(&mut self) {
        match self.format {
            ExportFormat::Json if self.several => self.out.extend_from_slice(b"\n]\n"),
            ExportFormat::Json => self.out.push(b'\n'),
            ExportFormat::Csv | ExportFormat::Text => {}
        }
    }

    /// Where a conversation's object starts: inside the array, or at the margin.
    fn json_indent(&self) -> usize {
        if self.several { 2 } else { 0 }
    }
}

/// `text`'s lines, each after `indent` spaces. Safe for JSON: its strings hold no raw newline.
fn push_indented(out: &mut Vec<u8>, text: &str, indent: usize) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.resize(out.len() + indent, b' ');
        out.extend_from_slice(line.as_bytes());
    }
}

fn rfc3339_local(settings: &TenantSettings, at: DateTime<Utc>) -> String {
    settings.local(at).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A conversation's fields as exported; its messages follow in a `messages` array.
#[derive(Serialize)]
struct ConversationJson<'a> {
    id: Uuid,
    channel: &'a str,
    customer: CustomerJson<'a>,
    status: &'a str,
    priority: &'a str,
    created_at: String,
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

/// RFC 4180 rows (CRLF line ends, quoted where needed).
fn csv_records<R, F>(records: impl IntoIterator<Item = R>) -> Result<Vec<u8>, ExportError>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for record in records {
        writer.write_record(record)?;
    }
    writer.into_inner().map_err(|e| ExportError::Buffer(e.to_string()))
}

/// One row per message.
fn csv_rows<'a>(
    conversation: &'a ExportedConversation,
    messages: &'a [ExportedMessage],
    settings: &'a TenantSettings,
    names: &'a SenderNames,
) -> impl Iterator<Item = [String; 9]> + 'a {
    let id = conversation.id.to_string();
    let customer = customer_label(conversation);
    messages.iter().map(move |message| {
        [
            id.clone(),
            conversation.channel.clone(),
            customer.clone(),
            rfc3339_local(settings, message.sent_at),
            message.sender_kind.clone(),
            sender_name(conversation, message, names).to_owned(),
            if message.internal_note { "true" } else { "false" }.to_owned(),
            message.ai_confidence.map(|c| format!("{c:.2}")).unwrap_or_default(),
            message.text.clone(),
        ]
    })
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

/// A transcript's header for a conversation (after a blank line and a rule unless it is the
/// first); one line per message follows:
/// `[2026-11-24 14:05] Ana (customer, WhatsApp): Hello, my order has not arrived`.
fn transcript_heading(conversation: &ExportedConversation, settings: &TenantSettings, first: bool) -> String {
    let zone = settings.time_zone.name();
    let mut out = String::new();
    if !first {
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
    out
}

fn transcript_line(
    conversation: &ExportedConversation,
    message: &ExportedMessage,
    settings: &TenantSettings,
    names: &SenderNames,
) -> String {
    let channel = channel_label(&conversation.channel);
    let role = match (message.sender_kind.as_str(), message.ai_confidence) {
        ("customer", _) => format!("customer, {channel}"),
        ("ai", Some(confidence)) => format!("AI, confidence {confidence:.2}"),
        ("ai", None) => "AI".to_owned(),
        (kind, _) => kind.to_owned(),
    };
    let note = if message.internal_note { " [internal note]" } else { "" };
    // Continuation lines are indented so every message starts at the left margin.
    let text = message.text.lines().collect::<Vec<_>>().join("\n    ");
    format!(
        "[{}] {} ({role}){note}: {text}\n",
        settings.local(message.sent_at).format("%Y-%m-%d %H:%M"),
        sender_name(conversation, message, names),
    )
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

    /// The file as a streamed export writes it: messages in pages of `page`.
    fn written_in_pages(conversations: &[ExportedConversation], format: ExportFormat, page: usize) -> Vec<u8> {
        let mut writer = ExportWriter::new(format, paris(), names(), conversations.len() != 1);
        let mut file = Vec::new();
        writer.begin().unwrap();
        for c in conversations {
            writer.begin_conversation(&ExportedConversation { messages: Vec::new(), ..c.clone() }).unwrap();
            for messages in c.messages.chunks(page) {
                writer.messages(c, messages).unwrap();
                file.extend(writer.take());
            }
            writer.end_conversation();
        }
        writer.finish();
        file.extend(writer.take());
        file
    }

    #[test]
    fn a_file_written_a_page_of_messages_at_a_time_is_the_file_written_at_once() {
        let silent = ExportedConversation { id: Uuid::from_u128(3), messages: Vec::new(), ..conversation() };
        for conversations in [vec![conversation()], vec![conversation(), silent.clone(), conversation()], vec![silent]]
        {
            for format in [ExportFormat::Json, ExportFormat::Csv, ExportFormat::Text] {
                let whole = write_export(&conversations, format, &paris(), &names()).unwrap();
                for page in [1, 3] {
                    assert_eq!(written_in_pages(&conversations, format, page), whole, "{format:?} in pages of {page}");
                }
            }
        }
    }

    #[test]
    fn json_of_several_conversations_is_an_indented_array_and_an_empty_conversation_has_no_messages() {
        let silent = ExportedConversation { id: Uuid::from_u128(3), messages: Vec::new(), ..conversation() };
        let content = write_export(&[conversation(), silent], ExportFormat::Json, &paris(), &names()).unwrap();
        let text = String::from_utf8(content).unwrap();
        assert!(text.starts_with("[\n  {\n    \"id\": \"00000000-0000-0000-0000-000000000001\",\n"), "{text}");
        assert!(text.contains("\n    \"messages\": [\n      {\n        \"id\": "), "{text}");
        assert!(text.contains("\"messages\": []\n  }\n]\n"), "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[0]["messages"].as_array().map(Vec::len), Some(4));
        assert_eq!(value[1]["messages"], serde_json::json!([]));
        assert_eq!(value[1]["customer"]["name"], "Ana");
    }

    #[test]
    fn file_names_name_the_conversation_or_the_day() {
        let now = at("2026-11-24T23:30:00Z");
        assert_eq!(
            filename(&[conversation().id], ExportFormat::Csv, &paris(), now),
            "conversation-00000000-0000-0000-0000-000000000001.csv"
        );
        // Already the 25th in Paris.
        assert_eq!(
            filename(&[Uuid::from_u128(1), Uuid::from_u128(2)], ExportFormat::Json, &paris(), now),
            "conversations-2026-11-25.json"
        );
        assert_eq!(ExportFormat::Text.content_type(), "text/plain; charset=utf-8");
    }
}
