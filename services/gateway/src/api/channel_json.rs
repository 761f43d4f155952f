//! JSON of the channel-specific contents (WhatsApp locations, contact cards, replies to
//! buttons and lists, reactions, templates, reply buttons) and of delivery states, both ways.

use inbox_errors::PublicError;
use inbox_proto::common::v1::{
    InteractiveButtonsContent, MediaContent, MediaKind, ReplyButton, TemplateComponent, TemplateParameter,
    WhatsAppTemplateContent, message_content::Kind,
};
use inbox_proto::ingest::v1 as ingest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::time;

/// The JSON of a content kind that `json::content` does not spell itself.
pub(crate) fn content(kind: &Kind) -> Value {
    match kind {
        Kind::Location(l) => json!({
            "type": "location",
            "latitude": l.latitude,
            "longitude": l.longitude,
            "name": l.name,
            "address": l.address,
            "url": l.url,
        }),
        Kind::Contacts(c) => json!({
            "type": "contacts",
            "contacts": c.contacts.iter().map(|k| json!({
                "formatted_name": k.formatted_name,
                "first_name": k.first_name,
                "last_name": k.last_name,
                "phones": k.phones.iter().map(|p| json!({"phone": p.phone, "type": p.r#type, "wa_id": p.wa_id})).collect::<Vec<_>>(),
                "emails": k.emails.iter().map(|e| json!({"email": e.email, "type": e.r#type})).collect::<Vec<_>>(),
                "company": k.company,
                "urls": k.urls,
                "birthday": k.birthday,
            })).collect::<Vec<_>>(),
        }),
        Kind::InteractiveReply(r) => json!({
            "type": "interactive_reply",
            "reply_type": r.reply_type,
            "id": r.id,
            "title": r.title,
            "description": r.description,
        }),
        Kind::Reaction(r) => json!({"type": "reaction", "external_id": r.external_id, "emoji": r.emoji}),
        Kind::WhatsappTemplate(t) => json!({
            "type": "whatsapp_template",
            "name": t.name,
            "language": t.language_code,
            "components": t.components.iter().map(|c| json!({
                "type": c.r#type,
                "sub_type": c.sub_type,
                "index": c.index,
                "parameters": c.parameters.iter().map(|p| json!({
                    "type": p.r#type,
                    "text": p.text,
                    "payload": p.payload,
                    "media_id": p.media.as_ref().map(|m| m.media_id.clone()),
                    "link": p.media.as_ref().map(|m| m.url.clone()),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
        Kind::InteractiveButtons(b) => json!({
            "type": "interactive_buttons",
            "body": b.body,
            "header": b.header,
            "footer": b.footer,
            "buttons": b.buttons.iter().map(|x| json!({"id": x.id, "title": x.title})).collect::<Vec<_>>(),
        }),
        Kind::Call(c) => super::telephony::call_item_json(c),
        Kind::Text(_) | Kind::Media(_) | Kind::Unsupported(_) => json!({"type": "empty"}),
    }
}

/// `queued`, `accepted`, `sent`, `delivered`, `read`, `failed`.
pub(crate) fn delivery_state(value: i32) -> &'static str {
    match ingest::DeliveryState::try_from(value) {
        Ok(ingest::DeliveryState::Queued) => "queued",
        Ok(ingest::DeliveryState::Accepted) => "accepted",
        Ok(ingest::DeliveryState::Sent) => "sent",
        Ok(ingest::DeliveryState::Delivered) => "delivered",
        Ok(ingest::DeliveryState::Read) => "read",
        Ok(ingest::DeliveryState::Failed) => "failed",
        _ => "unspecified",
    }
}

/// A message's delivery as clients see it.
pub(crate) fn delivery(d: &ingest::Delivery) -> Value {
    json!({
        "message_id": d.message_id,
        "conversation_id": d.conversation_id,
        "state": delivery_state(d.state),
        "external_id": d.external_id,
        "error": d.error.as_ref().map(|e| json!({"code": e.code, "title": e.title, "details": e.details})),
        "attempts": d.attempts,
        "updated_at": time(d.updated_at.as_ref()),
    })
}

/// An approved WhatsApp template to send: `{"name", "language", "components": [...]}` with
/// the Cloud API's component shapes (`type`, `sub_type`, `index`, `parameters`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWhatsAppTemplate {
    name: String,
    language: String,
    #[serde(default)]
    components: Vec<NewTemplateComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTemplateComponent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    sub_type: String,
    #[serde(default)]
    index: u32,
    #[serde(default)]
    parameters: Vec<NewTemplateParameter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTemplateParameter {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    media_id: String,
    #[serde(default)]
    filename: String,
}

fn invalid(message: &str) -> PublicError {
    PublicError::invalid_argument(message.to_owned())
}

impl NewWhatsAppTemplate {
    pub(crate) fn into_kind(self) -> Result<Kind, PublicError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 512
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(invalid("template.name must be the approved template's name (lowercase, digits, _)"));
        }
        if self.language.is_empty() || self.language.len() > 16 {
            return Err(invalid("template.language must be a language code such as en_US"));
        }
        let mut components = Vec::with_capacity(self.components.len());
        for c in self.components {
            if !matches!(c.kind.as_str(), "header" | "body" | "button") {
                return Err(invalid("template component type must be header, body or button"));
            }
            if c.kind == "button" && !matches!(c.sub_type.as_str(), "quick_reply" | "url") {
                return Err(invalid("template button sub_type must be quick_reply or url"));
            }
            let mut parameters = Vec::with_capacity(c.parameters.len());
            for p in c.parameters {
                let media = match p.kind.as_str() {
                    "text" | "payload" => None,
                    "image" | "video" | "document" => {
                        if p.link.is_empty() == p.media_id.is_empty() {
                            return Err(invalid("a media template parameter needs exactly one of link and media_id"));
                        }
                        let kind = match p.kind.as_str() {
                            "image" => MediaKind::Image,
                            "video" => MediaKind::Video,
                            _ => MediaKind::Document,
                        };
                        Some(MediaContent {
                            kind: kind as i32,
                            media_id: p.media_id,
                            url: p.link,
                            filename: p.filename,
                            ..Default::default()
                        })
                    }
                    _ => {
                        return Err(invalid("template parameter type must be text, payload, image, video or document"));
                    }
                };
                parameters.push(TemplateParameter { r#type: p.kind, text: p.text, payload: p.payload, media });
            }
            components.push(TemplateComponent { r#type: c.kind, sub_type: c.sub_type, index: c.index, parameters });
        }
        Ok(Kind::WhatsappTemplate(WhatsAppTemplateContent {
            name: self.name,
            language_code: self.language,
            components,
        }))
    }
}

/// Text with one to three reply buttons: `{"body", "header"?, "footer"?, "buttons": [{"id", "title"}]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewInteractiveButtons {
    body: String,
    #[serde(default)]
    header: String,
    #[serde(default)]
    footer: String,
    buttons: Vec<NewReplyButton>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReplyButton {
    id: String,
    title: String,
}

impl NewInteractiveButtons {
    /// Checks WhatsApp's documented limits so a send cannot fail at the provider for them.
    pub(crate) fn into_kind(self) -> Result<Kind, PublicError> {
        if self.body.trim().is_empty() || self.body.chars().count() > 1024 {
            return Err(invalid("interactive.body is required, at most 1024 characters"));
        }
        if self.header.chars().count() > 60 || self.footer.chars().count() > 60 {
            return Err(invalid("interactive.header and footer are at most 60 characters"));
        }
        if self.buttons.is_empty() || self.buttons.len() > 3 {
            return Err(invalid("interactive.buttons needs one to three buttons"));
        }
        let mut buttons = Vec::with_capacity(self.buttons.len());
        for b in self.buttons {
            if b.id.is_empty()
                || b.id.chars().count() > 256
                || b.title.trim().is_empty()
                || b.title.chars().count() > 20
            {
                return Err(invalid("each button needs an id (up to 256 characters) and a title (up to 20)"));
            }
            if buttons.iter().any(|x: &ReplyButton| x.id == b.id) {
                return Err(invalid("button ids must be unique"));
            }
            buttons.push(ReplyButton { id: b.id, title: b.title });
        }
        Ok(Kind::InteractiveButtons(InteractiveButtonsContent {
            body: self.body,
            header: self.header,
            footer: self.footer,
            buttons,
        }))
    }
}

/// Reads a JSON value into one of the request shapes above, with our error shape.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(field: &str, value: Value) -> Result<T, PublicError> {
    serde_json::from_value(value).map_err(|e| PublicError::invalid_argument(format!("{field}: {e}")))
}
