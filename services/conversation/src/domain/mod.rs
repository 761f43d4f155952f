//! Pure domain types and rules of conversations; no I/O.

pub mod ai;
pub mod calls;
pub mod customer_service_window;
pub mod customers;
pub mod export;
pub mod inbound;
mod priority_rules;
pub mod send_guard;
mod settings;
mod status_rules;
pub mod templates;
pub mod views;

pub use priority_rules::{PriorityRules, PrioritySource};
pub use settings::TenantSettings;
pub use status_rules::{ARCHIVE_RULE, MAX_RULE_SECONDS, PENDING_RULE, StatusRules};

use inbox_proto::common::v1::{MediaKind, MessageContent, message_content::Kind};
use inbox_proto::conversation::v1 as pb;

/// Where a conversation stands: Active → Pending → Resolved → Archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Pending,
    Resolved,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Status::Active, Status::Pending, Status::Resolved, Status::Archived].into_iter().find(|v| v.as_str() == s)
    }

    pub fn to_proto(self) -> pb::ConversationStatus {
        match self {
            Status::Active => pb::ConversationStatus::Active,
            Status::Pending => pb::ConversationStatus::Pending,
            Status::Resolved => pb::ConversationStatus::Resolved,
            Status::Archived => pb::ConversationStatus::Archived,
        }
    }

    pub fn from_proto(status: pb::ConversationStatus) -> Option<Status> {
        match status {
            pb::ConversationStatus::Active => Some(Status::Active),
            pb::ConversationStatus::Pending => Some(Status::Pending),
            pb::ConversationStatus::Resolved => Some(Status::Resolved),
            pb::ConversationStatus::Archived => Some(Status::Archived),
            pb::ConversationStatus::Unspecified => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

impl Priority {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "urgent" => Some(Priority::Urgent),
            "high" => Some(Priority::High),
            "normal" => Some(Priority::Normal),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }

    pub fn from_proto(priority: pb::Priority) -> Option<Priority> {
        match priority {
            pb::Priority::Urgent => Some(Priority::Urgent),
            pb::Priority::High => Some(Priority::High),
            pb::Priority::Normal => Some(Priority::Normal),
            pb::Priority::Low => Some(Priority::Low),
            pb::Priority::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::Priority {
        match self {
            Priority::Urgent => pb::Priority::Urgent,
            Priority::High => pb::Priority::High,
            Priority::Normal => pb::Priority::Normal,
            Priority::Low => pb::Priority::Low,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderKind {
    Customer,
    Agent,
    Ai,
    System,
}

impl SenderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderKind::Customer => "customer",
            SenderKind::Agent => "agent",
            SenderKind::Ai => "ai",
            SenderKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SenderKind::Customer, SenderKind::Agent, SenderKind::Ai, SenderKind::System]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    pub fn to_proto(self) -> pb::SenderKind {
        match self {
            SenderKind::Customer => pb::SenderKind::Customer,
            SenderKind::Agent => pb::SenderKind::Agent,
            SenderKind::Ai => pb::SenderKind::Ai,
            SenderKind::System => pb::SenderKind::System,
        }
    }
}

/// Longest list preview, in characters.
pub const PREVIEW_CHARS: usize = 140;

/// The plain-text rendering of a message's content (for previews and search).
pub fn plain_text(content: &MessageContent) -> String {
    match &content.kind {
        Some(Kind::Text(text)) => text.body.clone(),
        Some(Kind::Media(media)) => {
            let kind = match MediaKind::try_from(media.kind).unwrap_or(MediaKind::Unspecified) {
                MediaKind::Image => "image",
                MediaKind::Audio if media.voice => "voice note",
                MediaKind::Audio => "audio",
                MediaKind::Video => "video",
                MediaKind::Document => "document",
                MediaKind::Sticker => "sticker",
                MediaKind::Unspecified => "file",
            };
            let label = [media.caption.as_str(), media.filename.as_str()].into_iter().find(|s| !s.is_empty());
            match label {
                Some(label) => format!("[{kind}] {label}"),
                None => format!("[{kind}]"),
            }
        }
        Some(Kind::Unsupported(u)) => format!(
            "[unsupported message: {}]",
            if u.description.is_empty() { &u.provider_type } else { &u.description }
        ),
        Some(other) => channel_content_text(other),
        None => String::new(),
    }
}

/// The plain text of the richer channel contents (WhatsApp locations, contact cards, button
/// and list replies, reactions, templates, reply buttons).
fn channel_content_text(kind: &Kind) -> String {
    match kind {
        Kind::Location(l) => {
            let label = [l.name.as_str(), l.address.as_str()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
            if label.is_empty() {
                format!("[location] {:.6}, {:.6}", l.latitude, l.longitude)
            } else {
                format!("[location] {}", label.join(", "))
            }
        }
        Kind::Contacts(c) => {
            let names: Vec<&str> = c.contacts.iter().map(|k| k.formatted_name.as_str()).collect();
            format!("[contact] {}", names.join(", "))
        }
        Kind::InteractiveReply(r) => r.title.clone(),
        Kind::Call(c) => calls::call_item_text(c),
        Kind::Reaction(r) if r.emoji.is_empty() => "[reaction removed]".to_owned(),
        Kind::Reaction(r) => format!("[reaction] {}", r.emoji),
        Kind::WhatsappTemplate(t) => {
            let values: Vec<&str> = t
                .components
                .iter()
                .flat_map(|c| &c.parameters)
                .map(|p| if p.text.is_empty() { p.payload.as_str() } else { p.text.as_str() })
                .filter(|v| !v.is_empty())
                .collect();
            if values.is_empty() {
                format!("[template {}]", t.name)
            } else {
                format!("[template {}] {}", t.name, values.join(" · "))
            }
        }
        Kind::InteractiveButtons(b) => {
            let titles: Vec<&str> = b.buttons.iter().map(|x| x.title.as_str()).collect();
            format!("{} [{}]", b.body, titles.join(" | "))
        }
        Kind::Text(_) | Kind::Media(_) | Kind::Unsupported(_) => String::new(),
    }
}

/// The list preview: the first [`PREVIEW_CHARS`] characters on one line.
pub fn preview(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inbox_proto::common::v1::{TextContent, UnsupportedContent};

    #[test]
    fn previews_are_one_line_and_cut_on_a_character_boundary() {
        assert_eq!(preview("hello\n  world"), "hello world");
        let long = "é".repeat(200);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
    }

    #[test]
    fn unsupported_content_is_shown_as_such() {
        let content = MessageContent {
            kind: Some(Kind::Unsupported(UnsupportedContent {
                provider_type: "order".into(),
                description: String::new(),
            })),
            reply_to: None,
        };
        assert_eq!(plain_text(&content), "[unsupported message: order]");
        let text = MessageContent { kind: Some(Kind::Text(TextContent { body: "hi".into() })), reply_to: None };
        assert_eq!(plain_text(&text), "hi");
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [Status::Active, Status::Pending, Status::Resolved, Status::Archived] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("open"), None);
    }
}
